//go:build !linux

package journal

import "errors"

// releaseFilePages is Linux only (residency_linux.go).
func releaseFilePages(string) (int64, error) { return 0, errors.ErrUnsupported }
