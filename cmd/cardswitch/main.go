// Command cardswitch is the issuer authorization switch: `serve` runs the ISO 8583 listener and the
// management API on one engine; `client` sends single messages; `pki init` makes development
// certificates; `sim` and `bench` drive a running switch.
package main

import (
	"fmt"
	"os"

	"github.com/cardswitch/cardswitch/bench"
	"github.com/cardswitch/cardswitch/provision"
	"github.com/cardswitch/cardswitch/simulators/acquirer"
	kycsim "github.com/cardswitch/cardswitch/simulators/kyc"
	"github.com/cardswitch/cardswitch/simulators/mrs"
	pbasim "github.com/cardswitch/cardswitch/simulators/pba"
	tshsim "github.com/cardswitch/cardswitch/simulators/tsh"
)

func main() {
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "serve":
		err = serve(os.Args[2:])
	case "client":
		err = acquirer.ClientMain(os.Args[2:])
	case "pki":
		err = pkiCmd(os.Args[2:])
	case "provision":
		err = provision.Main(os.Args[2:])
	case "sim":
		if tshsim.Wanted(os.Args[2:]) { // `sim --tsh`: the token service hub (simulators/tsh)
			err = tshsim.Main(tshsim.Without(os.Args[2:]))
			break
		}
		err = acquirer.Main(os.Args[2:])
	case "pba-sim":
		err = pbasim.Main(os.Args[2:])
	case "bench":
		err = bench.Main(os.Args[2:])
	case "hash-password":
		err = hashPasswordCmd(os.Args[2:], os.Stdin, os.Stdout, os.Stderr)
	case "totp-secret":
		err = totpSecretCmd(os.Args[2:], os.Stdout)
	case "kyc-sim":
		err = kycsim.Main(os.Args[2:])
	case "mrs":
		err = mrs.Main(os.Args[2:])
	case "help", "-h", "--help":
		usage()
		return
	default:
		usage()
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "cardswitch:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprint(os.Stderr, `usage: cardswitch <command> [flags]

commands:
  serve   run the switch: ISO 8583 listener and management API
          [--config FILE] [--data-dir DIR] [--iso-addr HOST:PORT] [--http-addr HOST:PORT] [--cluster [--cluster-new]]
  client  send one message to a running switch (echo, sign-on, authorization, ...)
  pki     pki init [--dir DIR]: development CA, server and partner client certificates
  provision  create N customers, balances and cards in a stopped switch's data directory
  sim     acquirer/network simulator against a running switch
          sim --tsh: the token service hub's flow (/tsh, tokens over ISO 8583)
  bench   load benchmark against a running switch
  pba-sim Pay by Account bank server and phone against a running switch [--data-dir DIR] [--wait 30s]
  hash-password  read an operator's password, print its bcrypt hash for http.operators [--cost N]
  totp-secret    print a new TOTP secret for http.operators --name NAME [--issuer ISSUER]
  kyc-sim eKYC provider simulator (docs/users-balances.md) [--addr] [--secret] [--delay]
  mrs     rewards host (MRS) simulator on its own [--addr HOST:PORT] [--key FILE] [--programs ID=BIN,...]
`)
}
