//go:build !unix

package bench

// syncDisks has nothing to do where sync(2) is not available.
func syncDisks() {}
