package httpsig

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
)

// KeyBits is the size of the keys NewKey makes: what Mastodon makes.
const KeyBits = 2048

// MinKeyBits is the smallest RSA key accepted from a remote actor.
const MinKeyBits = 1024

// NewKey makes an actor's key pair.
func NewKey() (*rsa.PrivateKey, error) {
	k, err := rsa.GenerateKey(rand.Reader, KeyBits)
	if err != nil {
		return nil, fmt.Errorf("make RSA key: %w", err)
	}
	return k, nil
}

// PublicKeyPEM is pub as a "PUBLIC KEY" (PKIX) PEM block, the form of an
// actor's publicKeyPem.
func PublicKeyPEM(pub *rsa.PublicKey) string {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		// Only unsupported key types fail; an RSA key never does.
		panic(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// PrivateKeyPEM is key as a PKCS #8 "PRIVATE KEY" PEM block, for the store.
func PrivateKeyPEM(key *rsa.PrivateKey) string {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		panic(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

// ParsePublicKeyPEM reads an RSA public key in a "PUBLIC KEY" (PKIX) or
// "RSA PUBLIC KEY" (PKCS #1) PEM block, refusing keys under MinKeyBits.
func ParsePublicKeyPEM(s string) (*rsa.PublicKey, error) {
	b, _ := pem.Decode([]byte(s))
	if b == nil {
		return nil, errors.New("public key: no PEM block")
	}
	var pub *rsa.PublicKey
	switch b.Type {
	case "PUBLIC KEY":
		k, err := x509.ParsePKIXPublicKey(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("public key: %w", err)
		}
		rk, ok := k.(*rsa.PublicKey)
		if !ok {
			return nil, fmt.Errorf("public key: a %T, not an RSA key", k)
		}
		pub = rk
	case "RSA PUBLIC KEY":
		k, err := x509.ParsePKCS1PublicKey(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("public key: %w", err)
		}
		pub = k
	default:
		return nil, fmt.Errorf("public key: PEM block of type %q", b.Type)
	}
	if pub.N.BitLen() < MinKeyBits {
		return nil, fmt.Errorf("public key: %d bits, under the %d accepted", pub.N.BitLen(), MinKeyBits)
	}
	return pub, nil
}

// ParsePrivateKeyPEM reads a key written by PrivateKeyPEM (or a PKCS #1
// "RSA PRIVATE KEY" block).
func ParsePrivateKeyPEM(s string) (*rsa.PrivateKey, error) {
	b, _ := pem.Decode([]byte(s))
	if b == nil {
		return nil, errors.New("private key: no PEM block")
	}
	switch b.Type {
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("private key: %w", err)
		}
		rk, ok := k.(*rsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("private key: a %T, not an RSA key", k)
		}
		return rk, nil
	case "RSA PRIVATE KEY":
		k, err := x509.ParsePKCS1PrivateKey(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("private key: %w", err)
		}
		return k, nil
	}
	return nil, fmt.Errorf("private key: PEM block of type %q", b.Type)
}
