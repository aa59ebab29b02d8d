package events_test

import (
	"testing"
	"time"

	"github.com/stafet/stafet/events"
)

// mixWeights says how often each type appears in a replay, per 100 events
// of a typical pathway log: every sent document is acknowledged, most
// discharges come with handoffs, deadlines are rare. Types not named appear
// once.
var mixWeights = map[events.Type]int{
	events.TypePathwayOpened:        4,
	events.TypePatientAdmitted:      8,
	events.TypePatientTransferred:   2,
	events.TypeLeaveStarted:         2,
	events.TypeLeaveEnded:           2,
	events.TypeDischargeExpected:    4,
	events.TypeReadyForDischarge:    3,
	events.TypePatientDischarged:    7,
	events.TypeHandoffOffered:       8,
	events.TypeHandoffAccepted:      7,
	events.TypeDocumentRequested:    4,
	events.TypeDocumentSent:         18,
	events.TypeDocumentAcknowledged: 18,
	events.TypeServiceStarted:       3,
	events.TypeDeadlineElapsed:      2,
	events.TypePathwayClosed:        3,
}

// mix returns envelopes in the proportions of mixWeights, interleaved.
func mix(b *testing.B) []events.Envelope {
	b.Helper()
	xs := examples(b)
	var out []events.Envelope
	for round := 0; ; round++ {
		added := false
		for _, x := range xs {
			w := mixWeights[x.env.Type]
			if w == 0 {
				w = 1
			}
			if round < w {
				out = append(out, x.env)
				added = true
			}
		}
		if !added {
			return out
		}
	}
}

func encodedMix(b *testing.B, c *events.Codec) ([][]byte, int) {
	b.Helper()
	envs := mix(b)
	bodies := make([][]byte, len(envs))
	total := 0
	for i := range envs {
		bodies[i] = mustEncode(b, c, &envs[i])
		total += len(bodies[i])
	}
	return bodies, total
}

// reportRate adds events/s, the unit the replay target is set in.
func reportRate(b *testing.B, start time.Time) {
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
}

// BenchmarkDecode decodes a realistic mix of stored envelopes on one core.
// The replay target (≥ 0.9× a raw JetStream read of 240–330 k msgs/s on
// two cores) needs well under 6 µs per event per core.
func BenchmarkDecode(b *testing.B) {
	c := events.NewCodec()
	bodies, total := encodedMix(b, c)
	b.SetBytes(int64(total / len(bodies)))
	b.ReportAllocs()
	start := time.Now()
	for i := 0; b.Loop(); i++ {
		if _, err := c.Decode(bodies[i%len(bodies)]); err != nil {
			b.Fatal(err)
		}
	}
	reportRate(b, start)
}

// BenchmarkDecoder reads the mix as replay does: a Decoder per core
// appending to a reused batch, sharing repeated strings.
func BenchmarkDecoder(b *testing.B) {
	c := events.NewCodec()
	bodies, total := encodedMix(b, c)
	b.SetBytes(int64(total / len(bodies)))
	b.ReportAllocs()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		d := c.NewDecoder()
		var batch []events.Envelope
		for i := 0; pb.Next(); i++ {
			if i%512 == 0 {
				batch = batch[:0]
			}
			var err error
			if batch, err = d.DecodeCommit(batch, bodies[i%len(bodies)]); err != nil {
				b.Error(err)
				return
			}
		}
	})
	reportRate(b, start)
}

// BenchmarkDecodeParallel decodes the mix on every core with Codec.Decode.
func BenchmarkDecodeParallel(b *testing.B) {
	c := events.NewCodec()
	bodies, total := encodedMix(b, c)
	b.SetBytes(int64(total / len(bodies)))
	b.ReportAllocs()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for i := 0; pb.Next(); i++ {
			if _, err := c.Decode(bodies[i%len(bodies)]); err != nil {
				b.Error(err)
				return
			}
		}
	})
	reportRate(b, start)
}

// BenchmarkDecodeType decodes one example per type, for the outliers.
func BenchmarkDecodeType(b *testing.B) {
	c := events.NewCodec()
	for _, x := range examples(b) {
		body := mustEncode(b, c, &x.env)
		b.Run(string(x.env.Type), func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.Decode(body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkEncode encodes the mix, as append does.
func BenchmarkEncode(b *testing.B) {
	c := events.NewCodec()
	envs := mix(b)
	_, total := encodedMix(b, c)
	b.SetBytes(int64(total / len(envs)))
	b.ReportAllocs()
	start := time.Now()
	for i := 0; b.Loop(); i++ {
		if _, err := c.Encode(&envs[i%len(envs)]); err != nil {
			b.Fatal(err)
		}
	}
	reportRate(b, start)
}
