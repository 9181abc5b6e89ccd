package acquirer

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// Totals are the counters of a report.
type Totals struct {
	Sent, Answered, Matched, Mismatched, TimedOut int
	Late, Unmatched                               int64
	P50, P99, Max                                 time.Duration
}

// Totals sums the report.
func (rep *Report) Totals() Totals {
	var t Totals
	var lat []time.Duration
	for _, s := range rep.Steps {
		if s.Sent {
			t.Sent++
		}
		if s.Answered {
			t.Answered++
			if s.Latency > 0 {
				lat = append(lat, s.Latency)
			}
		}
		if s.TimedOut {
			t.TimedOut++
		}
		if s.Matched {
			t.Matched++
		} else {
			t.Mismatched++
		}
	}
	t.Late, t.Unmatched = rep.Late, rep.Unmatched
	t.P50, t.P99, t.Max = percentile(lat, 50), percentile(lat, 99), percentile(lat, 100)
	return t
}

// OK reports whether every step matched.
func (rep *Report) OK() bool { return rep.Totals().Mismatched == 0 }

func percentile(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := (p*len(s) + 99) / 100
	if i < 1 {
		i = 1
	}
	if i > len(s) {
		i = len(s)
	}
	return s[i-1]
}

// meaning39 explains a field 39 value (contract §3).
func meaning39(c string) string {
	switch c {
	case "00":
		return "approved"
	case "05":
		return "do not honour"
	case "14":
		return "invalid card number"
	case "25":
		return "original not found"
	case "30":
		return "format error"
	case "41":
		return "lost card, pick up"
	case "43":
		return "stolen card, pick up"
	case "51":
		return "insufficient funds"
	case "54":
		return "expired card"
	case "55":
		return "incorrect PIN"
	case "57":
		return "not permitted"
	case "59":
		return "suspected fraud"
	case "61":
		return "exceeds amount limit"
	case "62":
		return "restricted card"
	case "65":
		return "exceeds frequency limit"
	case "75":
		return "PIN tries exceeded"
	case "78":
		return "card inactive"
	case "82":
		return "cryptogram failure"
	case "94":
		return "duplicate transmission"
	case "96":
		return "system error"
	case "N7":
		return "CVC2/CVV failed"
	}
	return "?"
}

// PrintSteps writes one line per step.
func (rep *Report) PrintSteps(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "STEP\tMTI\tWANT\tGOT\tRESULT\tLATENCY\tDETAIL")
	for _, s := range rep.Steps {
		result := "ok"
		if !s.Matched {
			result = "MISMATCH"
		}
		lat := "-"
		if s.Latency > 0 {
			lat = s.Latency.Round(10 * time.Microsecond).String()
		}
		got := s.Got
		if m := meaning39(got); m != "?" && s.Answered {
			got += " " + m
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.Name, dash(s.MTI), dash(s.Want), dash(got), result, lat, s.Detail)
	}
	tw.Flush()
}

// PrintByKind writes one line per kind of step (for the random mix).
func (rep *Report) PrintByKind(w io.Writer) {
	type row struct{ sent, answered, matched, mismatched int }
	rows := map[string]*row{}
	var kinds []string
	for _, s := range rep.Steps {
		r := rows[s.Kind]
		if r == nil {
			r = &row{}
			rows[s.Kind] = r
			kinds = append(kinds, s.Kind)
		}
		if s.Sent {
			r.sent++
		}
		if s.Answered {
			r.answered++
		}
		if s.Matched {
			r.matched++
		} else {
			r.mismatched++
		}
	}
	sort.Strings(kinds)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "KIND\tSENT\tANSWERED\tMATCHED\tMISMATCHED\t")
	for _, k := range kinds {
		r := rows[k]
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t\n", k, r.sent, r.answered, r.matched, r.mismatched)
	}
	tw.Flush()
	var bad []string
	for _, s := range rep.Steps {
		if !s.Matched {
			bad = append(bad, fmt.Sprintf("  %s (%s): want %s got %s %s", s.Name, s.MTI, s.Want, s.Got, s.Detail))
		}
	}
	if len(bad) > 0 {
		fmt.Fprintln(w, "mismatches:")
		if len(bad) > 50 {
			bad = append(bad[:50], fmt.Sprintf("  ... and %d more", len(bad)-50))
		}
		fmt.Fprintln(w, strings.Join(bad, "\n"))
	}
}

// PrintSummary writes the totals.
func (rep *Report) PrintSummary(w io.Writer) {
	t := rep.Totals()
	verdict := "PASS"
	if t.Mismatched > 0 {
		verdict = "FAIL"
	}
	fmt.Fprintf(w, "summary %s: steps %d, sent %d, answered %d, matched %d, mismatched %d, timeouts %d, late answers %d, unmatched answers %d, latency p50 %s p99 %s max %s: %s\n",
		rep.Name, len(rep.Steps), t.Sent, t.Answered, t.Matched, t.Mismatched, t.TimedOut, t.Late, t.Unmatched,
		t.P50.Round(time.Microsecond), t.P99.Round(time.Microsecond), t.Max.Round(time.Microsecond), verdict)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
