package main

import (
	"errors"
)

func pkiCmd(args []string) error   { return errors.New("pki: not built yet") }
func simCmd(args []string) error   { return errors.New("sim: not built yet") }
func benchCmd(args []string) error { return errors.New("bench: not built yet") }
func client(args []string) error   { return errors.New("client: not built yet") }
