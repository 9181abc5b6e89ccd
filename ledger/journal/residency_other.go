//go:build !linux

package journal

import "errors"

// releaseFilePages is Linux only (residency_linux.go).
func releaseFilePages(string) error { return errors.ErrUnsupported }
