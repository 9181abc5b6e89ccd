package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// ATCs of chip traffic. The switch declines an ARQC whose ATC (tag 9F36, 2 bytes) is not above the
// highest it has stored for the card, durably, across restarts. The bench therefore sends, for the
// k-th chip request on a card in a run, ATC = base + k - 1, with:
//
//   - every card's chip requests on one connection (card i on connection i mod N), so they reach
//     the switch's single writer in ATC order;
//   - base per run: the next free ATC recorded by the previous run in the data directory
//     (atcStateFile), or, when the directory holds no record (a new directory, or a switch the bench
//     only knows by address), the wall clock: 1 + the half-seconds elapsed since 00:00 UTC (1 to
//     43,200). A later run on the same day therefore starts above an earlier one as long as no card
//     took more chip requests in the earlier run than half the seconds between the two starts;
//   - after every run (and every --cpu-compare phase) the base moves past the highest ATC sent.
//     Chip requests built before the run's clock (prepare.go) take their ATCs in the order they
//     are sent; those the run does not get to send were never seen by the switch, so the next
//     run may use their ATCs again.
//
// Limits: ATC is 2 bytes; a card's ATC never exceeds 0xFFFF (65,535). Requests that would need a
// higher ATC are sent with 0xFFFF and counted as atcExhausted (the switch declines all but the
// first); provision a new data directory then. With a record, a data directory gives each card
// 65,535 chip requests over its lifetime; with the clock, the base alone reaches 43,200 by the end
// of the UTC day, and a run on a later day without the record starts below the ATCs of earlier
// days (its chip requests are declined: pass --atc-base). --hot sends chip requests on card 0
// from every connection: they may reach the switch out of ATC order, and those are declined.

// atcStateFile is the record of the next free ATC, in the switch's data directory (next to
// ledger/, which the bench never touches).
const atcStateFile = "bench-atc-next"

// atcMaxClockBase is the largest base ATCBaseAt returns (the half-seconds of a day).
const atcMaxClockBase = 43200

// ATCBaseAt is the clock-derived ATC base at now: 1 + half-seconds since 00:00 UTC.
func ATCBaseAt(now time.Time) uint16 {
	u := now.UTC()
	secs := u.Hour()*3600 + u.Minute()*60 + u.Second()
	return uint16(1 + secs/2)
}

// LoadATCBase returns the ATC base for a run against the switch whose data directory is dataDir
// ("" when unknown): the recorded next free ATC, else ATCBaseAt(now). source says which.
func LoadATCBase(dataDir string, now time.Time) (base uint16, source string) {
	if dataDir != "" {
		if raw, err := os.ReadFile(filepath.Join(dataDir, atcStateFile)); err == nil {
			if v, err := strconv.Atoi(strings.TrimSpace(string(raw))); err == nil && v >= 1 && v <= 0xFFFF {
				return uint16(v), "recorded in " + filepath.Join(dataDir, atcStateFile)
			}
		}
	}
	return ATCBaseAt(now), "wall clock"
}

// SaveATCNext records next as the first free ATC of the data directory (atomically: temporary
// file and rename). It never lowers a record.
func SaveATCNext(dataDir string, next uint16) error {
	if dataDir == "" || next == 0 {
		return nil
	}
	if cur, src := LoadATCBase(dataDir, time.Time{}); strings.HasPrefix(src, "recorded") && cur >= next {
		return nil
	}
	path := filepath.Join(dataDir, atcStateFile)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(strconv.Itoa(int(next))+"\n"), 0o600); err != nil {
		return fmt.Errorf("bench: record ATC: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("bench: record ATC: %w", err)
	}
	return nil
}

// nextATCBase is the base after a run that sent ATCs up to maxATC (0: no chip request).
func nextATCBase(cur, maxATC uint16) uint16 {
	if maxATC == 0xFFFF {
		return 0xFFFF
	}
	if maxATC >= cur {
		return maxATC + 1
	}
	return cur
}
