package journal

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

// Badger's informational chatter stays out of the log, except the time writes were stalled
// behind level-0 compaction; warnings and errors always pass.
func TestBadgerLoggerKeepsOnlyStallsOfItsInfo(t *testing.T) {
	var out bytes.Buffer
	l := badgerLogger{slog.New(slog.NewTextHandler(&out, nil))}
	l.Infof("Replaying file id: %d at offset: %d\n", 3, 0)
	l.Debugf("flushing memtable")
	l.Infof("Lifetime L0 stalled for: %s\n", "1.2s")
	l.Warningf("value log truncated")
	got := out.String()
	if strings.Contains(got, "Replaying") || strings.Contains(got, "flushing") {
		t.Errorf("informational lines logged:\n%s", got)
	}
	for _, want := range []string{"Lifetime L0 stalled for: 1.2s", "value log truncated", "component=badger"} {
		if !strings.Contains(got, want) {
			t.Errorf("log lacks %q:\n%s", want, got)
		}
	}
}
