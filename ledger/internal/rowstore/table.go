package rowstore

// Table is a Store of rows keyed by an id that is the first string after the header of every
// record, with the index of the ids.
type Table struct {
	Store
	byID    Index
	scratch Enc
	// loading is set during recovery, where every id comes once: a row is added without
	// first looking its id up (a probe of a million-entry map per row).
	loading bool
}

// NewTable returns an empty table whose records have a header of the given length.
func NewTable(header int) Table {
	return Table{Store: Store{header: header}, byID: NewIndex()}
}

// SetLoading switches the recovery mode, in which Put takes every id as new.
func (t *Table) SetLoading(v bool) { t.loading = v }

// Scratch returns the table's encoder, emptied: a record encoded in it is valid until the next
// call (Put copies it into the store).
func (t *Table) Scratch() *Enc {
	t.scratch.Reset()
	return &t.scratch
}

// IDAt returns the id of a row, aliasing the stored bytes (never overwritten).
func (t *Table) IDAt(row uint32) string {
	d := Dec{s: View(t.Rec(row)), i: t.header}
	return d.Str()
}

// FindID returns the row of an id.
func (t *Table) FindID(id string) (uint32, bool) { return t.byID.Find(id, t.IDAt) }

// Existing finds the row of an id being stored (never during recovery: see SetLoading).
func (t *Table) Existing(id string) (uint32, bool) {
	if t.loading {
		return 0, false
	}
	return t.FindID(id)
}

// Put stores the encoded record of the row with the id, and reports whether it was new.
func (t *Table) Put(id string, rec []byte) (row uint32, added bool) {
	row, ok := t.Existing(id)
	return t.PutAt(row, ok, id, rec), !ok
}

// PutAt is Put for a caller that looked the id up already (Existing).
func (t *Table) PutAt(row uint32, exists bool, id string, rec []byte) uint32 {
	if exists {
		t.Update(row, rec)
		return row
	}
	row = t.Add(rec)
	t.byID.Set(id, row, t.IDAt)
	return row
}

// IDIndex is the index of the ids (tests force collisions in it).
func (t *Table) IDIndex() *Index { return &t.byID }

// RefTo writes id as a reference to its row in t when there is one, else as a string (t nil:
// always as the string). A record that names a row of another table costs 3–4 bytes instead
// of the id.
func RefTo(e *Enc, t *Table, id string) {
	if t != nil && id != "" {
		if row, ok := t.FindID(id); ok {
			e.Num(row)
			return
		}
	}
	e.Str(id)
}

// RefField reads a field written by RefTo with the same table.
func RefField(d *Dec, t *Table) string {
	s, row, isRef := d.Field()
	if isRef {
		return t.IDAt(row)
	}
	return s
}
