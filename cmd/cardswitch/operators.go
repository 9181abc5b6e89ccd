package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"golang.org/x/term"

	"github.com/cardswitch/cardswitch/mgmt"
)

// hashPasswordCmd is `cardswitch hash-password [--cost N]`: it reads an operator's password
// (without echo from a terminal, else the first line of standard input) and prints its bcrypt
// hash for http.operators[].passwordHash (docs/operators.md).
func hashPasswordCmd(args []string, stdin *os.File, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("hash-password", flag.ContinueOnError)
	cost := fs.Int("cost", mgmt.BcryptCostDefault, "bcrypt cost (work factor, 2^cost rounds)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	pw, err := readPassword(stdin, stderr)
	if err != nil {
		return err
	}
	defer clear(pw)
	h, err := mgmt.HashOperatorPassword(pw, *cost)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, h)
	return nil
}

// readPassword reads a password: from a terminal twice without echo, else one line.
func readPassword(in *os.File, prompt io.Writer) ([]byte, error) {
	fd := int(in.Fd())
	if term.IsTerminal(fd) {
		fmt.Fprint(prompt, "password: ")
		a, err := term.ReadPassword(fd)
		fmt.Fprintln(prompt)
		if err != nil {
			return nil, fmt.Errorf("read password: %w", err)
		}
		fmt.Fprint(prompt, "again: ")
		b, err := term.ReadPassword(fd)
		fmt.Fprintln(prompt)
		if err != nil {
			return nil, fmt.Errorf("read password: %w", err)
		}
		defer clear(b)
		if !bytes.Equal(a, b) {
			clear(a)
			return nil, errors.New("the passwords differ")
		}
		return a, nil
	}
	line, err := bufio.NewReader(in).ReadBytes('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("read password: %w", err)
	}
	return bytes.TrimRight(line, "\r\n"), nil
}

// totpSecretCmd is `cardswitch totp-secret --name NAME [--issuer ISSUER]`: a new TOTP secret
// for http.operators[].totpSecret and the otpauth:// URI to give the operator's authenticator.
func totpSecretCmd(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("totp-secret", flag.ContinueOnError)
	name := fs.String("name", "", "the operator's name (shown by the authenticator app)")
	issuer := fs.String("issuer", "cardswitch", "the issuer shown by the authenticator app")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *name == "" {
		return errors.New("usage: cardswitch totp-secret --name NAME [--issuer ISSUER]")
	}
	secret, uri, err := mgmt.NewTOTPSecret(*issuer, *name)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "totpSecret: %s\notpauth URI: %s\n", secret, uri)
	return nil
}
