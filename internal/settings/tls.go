package settings

import (
	"crypto/tls"
	"errors"
	"fmt"

	"github.com/stafet/stafet/internal/pki"
)

// TLS reads the listeners' certificates: https is HTTPS's (TLSCert; nil
// without it); mllp is the MLLP listener's with MLLPTLS (nil without):
// MLLPCert's certificate, else TLSCert's, and with MLLPClientCA every
// sender must present a certificate that CA signed.
func (c Settings) TLS() (https, mllp *tls.Config, err error) {
	if c.TLSCert != "" {
		if https, err = pki.ServerTLS(c.TLSCert, c.TLSKey); err != nil {
			return nil, nil, fmt.Errorf("tls: %w", err)
		}
	}
	if c.MLLPAddr == "" {
		return https, nil, nil
	}
	server := https
	if c.MLLPCert != "" {
		if server, err = pki.ServerTLS(c.MLLPCert, c.MLLPKey); err != nil {
			return nil, nil, fmt.Errorf("mllp tls: %w", err)
		}
	}
	if !c.MLLPTLS {
		return https, nil, nil
	}
	if server == nil {
		return nil, nil, errors.New("-mllp-tls needs -mllp-tls-cert and -mllp-tls-key, or -tls-cert and -tls-key")
	}
	mllp, err = pki.MutualTLS(server, c.MLLPClientCA)
	return https, mllp, err
}
