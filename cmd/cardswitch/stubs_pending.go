package main

import (
	"errors"
)

func pkiCmd(args []string) error   { return errors.New("pki: not built yet") }
func benchCmd(args []string) error { return errors.New("bench: not built yet") }
