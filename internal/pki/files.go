package pki

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
)

// ServerTLS is a listener's TLS from a certificate and key file (PEM),
// whichever CA issued them: TLS 1.2 at least.
func ServerTLS(certFile, keyFile string) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

// MutualTLS is the MLLP listener's TLS: the server's certificate, and
// with a client CA file (PEM, the region's CA in production), every
// sender must present a certificate it signed.
func MutualTLS(server *tls.Config, clientCA string) (*tls.Config, error) {
	t := server.Clone()
	if clientCA == "" {
		return t, nil
	}
	b, err := os.ReadFile(clientCA)
	if err != nil {
		return nil, fmt.Errorf("mllp client CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("mllp client CA %s: no PEM certificate in it", clientCA)
	}
	t.ClientCAs, t.ClientAuth = pool, tls.RequireAndVerifyClientCert
	return t, nil
}
