package main

import (
	"errors"
	"flag"
	"fmt"

	"github.com/cardswitch/cardswitch/mgmt/pki"
)

// pkiCmd is `cardswitch pki init [--dir DIR]`: a development CA, a server certificate for
// 127.0.0.1/localhost and a partner client certificate, so mutual TLS can be tried at once.
func pkiCmd(args []string) error {
	if len(args) == 0 || args[0] != "init" {
		return errors.New("usage: cardswitch pki init [--dir DIR]")
	}
	fs := flag.NewFlagSet("pki init", flag.ContinueOnError)
	dir := fs.String("dir", "./var/pki", "directory for the certificates and keys")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if err := pki.Init(*dir); err != nil {
		return err
	}
	fmt.Printf("development PKI written to %s\nconfigure http.tlsCert, http.tlsKey and http.clientCA from it (see docs/api.md)\n", *dir)
	return nil
}
