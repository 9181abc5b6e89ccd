package rowstore

import (
	"maps"
	"strings"
	"sync"
	"sync/atomic"
)

// Symbols: the names of small sets (states, types, programs, currencies) stored as 16-bit
// numbers, shared by every table of the process. Reads are lock-free (maps published
// atomically, never changed once published); new names are added under a mutex.
type symbolTable struct {
	mu    sync.Mutex
	idx   atomic.Pointer[map[string]uint16]
	names atomic.Pointer[[]string]
}

// symbols is initialized by its declaration (not in init) so that package variables of the
// packages that import this one can use Sym.
var symbols = func() *symbolTable {
	t := &symbolTable{}
	idx := map[string]uint16{"": 0}
	names := []string{""}
	t.idx.Store(&idx)
	t.names.Store(&names)
	return t
}()

// Sym returns the symbol of a name, adding it on first use.
func Sym(name string) uint16 {
	if i, ok := (*symbols.idx.Load())[name]; ok {
		return i
	}
	symbols.mu.Lock()
	defer symbols.mu.Unlock()
	old := *symbols.idx.Load()
	if i, ok := old[name]; ok {
		return i
	}
	names := *symbols.names.Load()
	if len(names) >= 1<<16 {
		panic("rowstore: more than 65535 distinct state, type, program and currency names")
	}
	name = strings.Clone(name)
	i := uint16(len(names))
	names = append(names[:len(names):len(names)], name)
	idx := maps.Clone(old)
	idx[name] = i
	symbols.names.Store(&names) // names first: a reader that sees the symbol finds its name
	symbols.idx.Store(&idx)
	return i
}

// SymName returns the name of a symbol.
func SymName(i uint16) string { return (*symbols.names.Load())[i] }
