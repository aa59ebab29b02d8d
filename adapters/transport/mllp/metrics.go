package mllp

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stafet/stafet/adapters/translate/hl7v2"
)

// CountAcks wraps h so that every acknowledgement it returns is counted
// by its MSA-1 code in stafet_mllp_acks_total on reg ("none" for an
// answer without MSA, "other" for a code HL7 does not define, so a label
// never holds what a message said).
func CountAcks(reg prometheus.Registerer, h Handler) (Handler, error) {
	acks := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "stafet_mllp_acks_total", Help: "HL7 ACKs sent over MLLP by MSA-1 code (AA, AE, AR).",
	}, []string{"code"})
	if err := reg.Register(acks); err != nil {
		return nil, err
	}
	return func(ctx context.Context, msg []byte, remote string) []byte {
		ack := h(ctx, msg, remote)
		acks.WithLabelValues(ackLabel(hl7v2.AckCode(ack))).Inc()
		return ack
	}, nil
}

func ackLabel(code string) string {
	switch code {
	case "AA", "AE", "AR", "CA", "CE", "CR":
		return code
	case "":
		return "none"
	}
	return "other"
}

// Register registers stafet_mllp_connections, the server's open
// connections, and stafet_mllp_refused_connections_total, connections
// closed unserved (no known sender, or over a connection limit), on reg.
func (s *Server) Register(reg prometheus.Registerer) error {
	if err := reg.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "stafet_mllp_connections", Help: "Open MLLP connections.",
	}, func() float64 { return float64(s.Active()) })); err != nil {
		return err
	}
	return reg.Register(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "stafet_mllp_refused_connections_total", Help: "MLLP connections closed unserved: no known sender, or over a connection limit.",
	}, func() float64 {
		n := s.Refused.Load()
		if s.limited != nil {
			n += s.RefusedOverLimit()
		}
		return float64(n)
	}))
}
