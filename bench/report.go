package bench

import (
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"math"
	"os"
	"runtime"
	"sort"
	"strings"
	"time"
)

// RunResult is the outcome of one load run (JSON field names are stable: scripts read them).
type RunResult struct {
	Label          string         `json:"label"`
	Addr           string         `json:"addr"`
	Mode           string         `json:"mode"` // open | closed
	Connections    int            `json:"connections"`
	Pipeline       int            `json:"pipeline,omitempty"` // closed loop: in flight per connection
	RatePerSec     float64        `json:"ratePerSec"`         // open loop: target arrival rate
	Duration       string         `json:"duration"`
	Warmup         string         `json:"warmup"`
	Timeout        string         `json:"timeout"`
	Mix            map[string]int `json:"mix"`
	MixText        string         `json:"mixText"`
	Cards          int            `json:"cards"`
	Hot            bool           `json:"hot"`
	Started        time.Time      `json:"started"`
	ElapsedSeconds float64        `json:"elapsedSeconds"`

	Sent      int64 `json:"sent"`
	Completed int64 `json:"completed"`
	Approved  int64 `json:"approved"`
	// ApprovedAll counts approvals of the whole run, warm-up included.
	ApprovedAll int64 `json:"approvedInclWarmup"`
	Errors      int64 `json:"errors"`
	Timeouts    int64 `json:"timeouts"`
	NotSent     int64 `json:"notSent"` // open loop: sends the schedule wanted but the run ended first
	// Reconnects counts the connections dialled again during the run (an --addr list: a group's
	// failover; their requests in flight count as timeouts).
	Reconnects int64 `json:"reconnects,omitempty"`

	ThroughputPerSec float64 `json:"throughputPerSec"`
	ApprovedPerSec   float64 `json:"approvedPerSec"`

	Latency      LatencySummary        `json:"latencyMs"`
	Distribution []Quantile            `json:"distribution"`
	ActionCodes  map[string]int64      `json:"actionCodes"` // field 39 -> count
	ByKind       map[string]KindResult `json:"byKind"`
	Series       []Point               `json:"series"`

	ServeRSSBytes int64 `json:"serveRssBytes,omitempty"` // --spawn: VmRSS of the switch at the end

	// AnswerChecks count what the answers of chip and PIN requests carried (warm-up included).
	AnswerChecks AnswerChecks `json:"answerChecks"`
	// MaxATC is the highest ATC sent in this run's chip requests (0: none).
	MaxATC uint16 `json:"maxAtc,omitempty"`
	// ServeCPUSeconds is the switch's CPU time (user + system) during the run, when the bench
	// knows its process (--spawn or --serve-pid); ServeCPUPerApprovedUs divides it by the run's
	// approvals, warm-up included.
	ServeCPUSeconds       float64 `json:"serveCpuSeconds,omitempty"`
	ServeCPUPerApprovedUs float64 `json:"serveCpuPerApprovedUs,omitempty"`
	// Syncs counts the durable echo's group commits (fdatasyncs) in the run.
	Syncs int64 `json:"syncs,omitempty"`
	// PrepareSeconds is the wall time spent before the clock started: the CVC2 table and the
	// prebuilt chip requests (in no measured window).
	PrepareSeconds float64 `json:"prepareSeconds"`
}

// AnswerChecks: chip answers must carry tag 91 (the ARPC), PIN answers with the right PIN must
// be approved.
type AnswerChecks struct {
	ChipAnswers   int64 `json:"chipAnswers"`
	ChipWithTag91 int64 `json:"chipWithTag91"`
	PINAnswers    int64 `json:"pinAnswers"`
	PINApproved   int64 `json:"pinApproved"`
	// ATCExhausted counts chip requests whose ATC would have passed 0xFFFF (sent with 0xFFFF).
	ATCExhausted int64 `json:"atcExhausted,omitempty"`
	// ChipPrebuilt counts chip requests whose ARQC was built before the run's clock started,
	// ChipInline those whose ARQC the generator built during the run (it then took CPU from the
	// switch: the prebuilt ones ran out, see Options.PrebuildRate).
	ChipPrebuilt int64 `json:"chipPrebuilt,omitempty"`
	ChipInline   int64 `json:"chipInline,omitempty"`
}

// LatencySummary are HdrHistogram percentiles, in milliseconds. In open loop the latency runs
// from each request's intended send time (no coordinated omission); in closed loop from its send.
type LatencySummary struct {
	P50Ms  float64 `json:"p50"`
	P90Ms  float64 `json:"p90"`
	P99Ms  float64 `json:"p99"`
	P999Ms float64 `json:"p99.9"`
	MaxMs  float64 `json:"max"`
	MeanMs float64 `json:"mean"`
}

// Quantile is one point of the latency distribution.
type Quantile struct {
	Percentile float64 `json:"percentile"`
	LatencyMs  float64 `json:"latencyMs"`
}

// KindResult counts one traffic kind.
type KindResult struct {
	Sent      int64 `json:"sent"`
	Completed int64 `json:"completed"`
	Approved  int64 `json:"approved"`
}

// Point is one second of the run.
type Point struct {
	T          float64 `json:"t"` // seconds since the start
	Throughput float64 `json:"throughput"`
	Approved   float64 `json:"approved"`
	P50Ms      float64 `json:"p50"`
	P90Ms      float64 `json:"p90"`
	P99Ms      float64 `json:"p99"`
	MaxMs      float64 `json:"max"`
	Errors     int64   `json:"errors"`
	Timeouts   int64   `json:"timeouts"`
}

// Machine describes where the bench ran.
type Machine struct {
	NumCPU    int    `json:"nproc"`
	GoVersion string `json:"goVersion"`
	OS        string `json:"os"`
	Arch      string `json:"arch"`
	CPUModel  string `json:"cpuModel,omitempty"`
}

// Report is the JSON result of `cardswitch bench`.
type Report struct {
	Command string       `json:"command"`
	Machine Machine      `json:"machine"`
	Runs    []*RunResult `json:"runs"`
	// Baseline names the server of the ratios: "echo" or "durable-echo" (--baseline).
	Baseline string `json:"baseline,omitempty"`
	// Ratio is cardswitch / baseline: approved per second over the baseline's answers per second
	// (closed loop), present with --baseline.
	Ratio *float64 `json:"ratio,omitempty"`
	// LatencyRatioP99 and LatencyRatioP999 are cardswitch's p99 and p99.9 over the baseline's
	// (both modes), with --baseline.
	LatencyRatioP99  *float64 `json:"latencyRatioP99,omitempty"`
	LatencyRatioP999 *float64 `json:"latencyRatioP999,omitempty"`
	// CPUCompare is the switch's CPU per approval by traffic type, with --cpu-compare.
	CPUCompare *CPUCompare `json:"cpuCompare,omitempty"`
	// Suite is the verdict table of --suite.
	Suite *SuiteResult `json:"suite,omitempty"`
}

// ThisMachine describes the current machine.
func ThisMachine() Machine {
	m := Machine{NumCPU: runtime.NumCPU(), GoVersion: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH}
	if raw, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(raw), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	return m
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// Summary writes the human-readable result.
func (r *Report) Summary(w io.Writer) {
	for _, run := range r.Runs {
		fmt.Fprintf(w, "%s (%s) %s loop, %d connections", run.Label, run.Addr, run.Mode, run.Connections)
		if run.Mode == "open" {
			fmt.Fprintf(w, ", %.0f/s offered", run.RatePerSec)
		} else {
			fmt.Fprintf(w, ", %d in flight per connection", run.Pipeline)
		}
		fmt.Fprintf(w, ", %s, mix %s, cards %d", run.Duration, run.MixText, run.Cards)
		if run.Hot {
			fmt.Fprint(w, " (hot: one card)")
		}
		fmt.Fprintln(w)
		fmt.Fprintf(w, "  throughput %.0f/s  approved %.0f/s  sent %d  completed %d  errors %d  timeouts %d",
			run.ThroughputPerSec, run.ApprovedPerSec, run.Sent, run.Completed, run.Errors, run.Timeouts)
		if run.NotSent > 0 {
			fmt.Fprintf(w, "  not sent %d", run.NotSent)
		}
		if run.Reconnects > 0 {
			fmt.Fprintf(w, "  reconnects %d", run.Reconnects)
		}
		fmt.Fprintln(w)
		l := run.Latency
		fmt.Fprintf(w, "  latency ms  p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f  mean %.3f\n",
			l.P50Ms, l.P90Ms, l.P99Ms, l.P999Ms, l.MaxMs, l.MeanMs)
		codes := make([]string, 0, len(run.ActionCodes))
		for c := range run.ActionCodes {
			codes = append(codes, c)
		}
		sort.Strings(codes)
		fmt.Fprint(w, "  field 39:")
		for _, c := range codes {
			fmt.Fprintf(w, "  %s=%d", c, run.ActionCodes[c])
		}
		fmt.Fprintln(w)
		if run.ServeRSSBytes > 0 {
			fmt.Fprintf(w, "  serve RSS %.1f MiB\n", float64(run.ServeRSSBytes)/(1<<20))
		}
		if run.ServeCPUSeconds > 0 {
			fmt.Fprintf(w, "  serve CPU %.2fs  %.1f µs per approval\n", run.ServeCPUSeconds, run.ServeCPUPerApprovedUs)
		}
		if a := run.AnswerChecks; run.Label != "echo" && (a.ChipAnswers > 0 || a.PINAnswers > 0) {
			fmt.Fprintf(w, "  chip answers %d, with tag 91 %d;  PIN answers %d, approved %d", a.ChipAnswers, a.ChipWithTag91, a.PINAnswers, a.PINApproved)
			if a.ATCExhausted > 0 {
				fmt.Fprintf(w, ";  ATC exhausted %d", a.ATCExhausted)
			}
			fmt.Fprintln(w)
		}
		if a := run.AnswerChecks; a.ChipPrebuilt > 0 || a.ChipInline > 0 || run.PrepareSeconds >= 0.05 {
			fmt.Fprintf(w, "  generator: %.2f s of preparation before the clock; chip ARQCs prebuilt %d, built in the run %d\n",
				run.PrepareSeconds, a.ChipPrebuilt, a.ChipInline)
		}
	}
	b := r.Baseline
	if b == "" {
		b = "echo"
	}
	if r.Ratio != nil {
		fmt.Fprintf(w, "ratio cardswitch/%s (approved/s over %s answers/s): %.2f\n", b, b, *r.Ratio)
	}
	if r.LatencyRatioP99 != nil {
		fmt.Fprintf(w, "p99 latency cardswitch/%s: %.2f\n", b, *r.LatencyRatioP99)
	}
	if r.LatencyRatioP999 != nil {
		fmt.Fprintf(w, "p99.9 latency cardswitch/%s: %.2f\n", b, *r.LatencyRatioP999)
	}
}

// WriteHTML writes a self-contained report page with inline SVG plots.
func (r *Report) WriteHTML(w io.Writer) error {
	type runView struct {
		*RunResult
		LatencyPlot, DistPlot, ThroughputPlot template.HTML
		Codes                                 []codeCount
	}
	views := make([]runView, 0, len(r.Runs))
	for _, run := range r.Runs {
		v := runView{RunResult: run}
		var t, p50, p99, mx, thr, appr []float64
		for _, p := range run.Series {
			t = append(t, p.T)
			p50 = append(p50, p.P50Ms)
			p99 = append(p99, p.P99Ms)
			mx = append(mx, p.MaxMs)
			thr = append(thr, p.Throughput)
			appr = append(appr, p.Approved)
		}
		v.LatencyPlot = svgPlot("Latency over time", "seconds", "ms", false, []series{
			{"p50", "#1f77b4", t, p50}, {"p99", "#ff7f0e", t, p99}, {"max", "#d62728", t, mx}})
		var xs, ys []float64
		for _, q := range run.Distribution {
			if q.Percentile >= 100 {
				continue
			}
			xs = append(xs, math.Log10(100/(100-q.Percentile)))
			ys = append(ys, q.LatencyMs)
		}
		v.DistPlot = svgPlot("Latency by percentile", "percentile (log scale: 0, 90, 99, 99.9, 99.99, 99.999)", "ms", true,
			[]series{{"latency", "#2ca02c", xs, ys}})
		v.ThroughputPlot = svgPlot("Throughput over time", "seconds", "per second", false, []series{
			{"answered", "#1f77b4", t, thr}, {"approved", "#2ca02c", t, appr}})
		for c, n := range run.ActionCodes {
			v.Codes = append(v.Codes, codeCount{c, n})
		}
		sort.Slice(v.Codes, func(i, j int) bool { return v.Codes[i].Code < v.Codes[j].Code })
		views = append(views, v)
	}
	return reportTmpl.Execute(w, map[string]any{"R": r, "Runs": views, "Generated": time.Now().UTC().Format(time.RFC3339)})
}

type codeCount struct {
	Code  string
	Count int64
}

type series struct {
	Name  string
	Color string
	X, Y  []float64
}

// svgPlot draws line series on linear axes. percentileAxis labels x as percentiles of the
// 1/(1-p) log scale.
func svgPlot(title, xLabel, yLabel string, percentileAxis bool, ss []series) template.HTML {
	const W, H, L, R, T, B = 640.0, 280.0, 60.0, 20.0, 30.0, 40.0
	maxX, maxY := 0.0, 0.0
	for _, s := range ss {
		for i := range s.X {
			maxX = math.Max(maxX, s.X[i])
			maxY = math.Max(maxY, s.Y[i])
		}
	}
	if maxX <= 0 {
		maxX = 1
	}
	if maxY <= 0 {
		maxY = 1
	}
	maxY = niceCeil(maxY)
	px := func(x float64) float64 { return L + x/maxX*(W-L-R) }
	py := func(y float64) float64 { return H - B - y/maxY*(H-T-B) }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" font-family="sans-serif" font-size="11">`, W, H, W, H)
	fmt.Fprintf(&b, `<text x="%.0f" y="18" font-size="13" font-weight="bold">%s</text>`, L, template.HTMLEscapeString(title))
	fmt.Fprintf(&b, `<rect x="%.0f" y="%.0f" width="%.0f" height="%.0f" fill="none" stroke="#999"/>`, L, T, W-L-R, H-T-B)
	for i := 0; i <= 4; i++ {
		y := maxY * float64(i) / 4
		fmt.Fprintf(&b, `<line x1="%.0f" x2="%.0f" y1="%.1f" y2="%.1f" stroke="#eee"/>`, L, W-R, py(y), py(y))
		fmt.Fprintf(&b, `<text x="%.0f" y="%.1f" text-anchor="end">%s</text>`, L-4, py(y)+4, fmtNum(y))
	}
	if percentileAxis {
		for i, lbl := range []string{"0", "90", "99", "99.9", "99.99", "99.999"} {
			x := float64(i)
			if x > maxX {
				break
			}
			fmt.Fprintf(&b, `<text x="%.1f" y="%.0f" text-anchor="middle">%s</text>`, px(x), H-B+14, lbl)
		}
	} else {
		for i := 0; i <= 5; i++ {
			x := maxX * float64(i) / 5
			fmt.Fprintf(&b, `<text x="%.1f" y="%.0f" text-anchor="middle">%s</text>`, px(x), H-B+14, fmtNum(x))
		}
	}
	fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" text-anchor="middle">%s</text>`, (L+W-R)/2, H-8, template.HTMLEscapeString(xLabel))
	fmt.Fprintf(&b, `<text x="12" y="%.0f" transform="rotate(-90 12 %.0f)" text-anchor="middle">%s</text>`, (T+H-B)/2, (T+H-B)/2, template.HTMLEscapeString(yLabel))
	for k, s := range ss {
		if len(s.X) == 0 {
			continue
		}
		var pts strings.Builder
		for i := range s.X {
			fmt.Fprintf(&pts, "%.1f,%.1f ", px(s.X[i]), py(s.Y[i]))
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="1.5" points="%s"/>`, s.Color, strings.TrimSpace(pts.String()))
		fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" fill="%s">%s</text>`, W-R-80, T+14+float64(k)*13, s.Color, template.HTMLEscapeString(s.Name))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

func niceCeil(v float64) float64 {
	exp := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*exp >= v {
			return m * exp
		}
	}
	return 10 * exp
}

func fmtNum(v float64) string {
	switch {
	case v >= 1000:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

var reportTmpl = template.Must(template.New("report").Funcs(template.FuncMap{
	"mb": func(b int64) float64 { return float64(b) / 1e6 },
}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>cardswitch bench report</title>
<style>
body{font-family:sans-serif;margin:2em;color:#222;max-width:1400px}
table{border-collapse:collapse;margin:0.5em 0}
td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
th{background:#f4f4f4}
td:first-child,th:first-child{text-align:left}
.plots{display:flex;flex-wrap:wrap;gap:1em}
code{background:#f4f4f4;padding:1px 4px}
</style></head><body>
<h1>cardswitch bench report</h1>
<p>Generated {{.Generated}}. Command: <code>{{.R.Command}}</code></p>
<p>Machine: {{.R.Machine.NumCPU}} CPUs{{with .R.Machine.CPUModel}} ({{.}}){{end}}, {{.R.Machine.GoVersion}} {{.R.Machine.OS}}/{{.R.Machine.Arch}}</p>
{{with .R.Ratio}}<p><b>Ratio cardswitch / {{or $.R.Baseline "echo"}} (approved/s over {{or $.R.Baseline "echo"}} answers/s): {{printf "%.2f" .}}</b></p>{{end}}
{{with .R.LatencyRatioP99}}<p>p99 latency cardswitch / {{or $.R.Baseline "echo"}}: {{printf "%.2f" .}}</p>{{end}}
{{with .R.LatencyRatioP999}}<p>p99.9 latency cardswitch / {{or $.R.Baseline "echo"}}: {{printf "%.2f" .}}</p>{{end}}
{{with .R.Suite}}
<h2>Suite: targets of the benchmark issue</h2>
<p>One switch, {{.Cards}} cards and balances; machine: nproc {{.NumCPU}}{{with .CPUModel}} ({{.}}){{end}}, load average {{.LoadAvgStart}} → {{.LoadAvgEnd}}; wall {{printf "%.0f" .WallSeconds}} s.{{if .ProvisionSeconds}} Before the phases (not measured): provisioning {{printf "%.1f" .ProvisionSeconds}} s, first start to ready {{printf "%.1f" .FirstReadySeconds}} s.{{end}}</p>
<table><tr><th>phase</th><th>wall s</th><th>of which preparation before the clock, s</th></tr>
{{range .PhaseTimes}}<tr><td>{{.Name}}</td><td>{{printf "%.1f" .Seconds}}</td><td>{{printf "%.1f" .PrepareSeconds}}</td></tr>
{{end}}</table>
<table><tr><th>target</th><th>measured</th><th>goal</th><th>verdict</th></tr>
{{range .Targets}}<tr><td>{{.Name}}</td><td>{{.Measured}}</td><td>{{.Target}}</td><td>{{if .Met}}MET{{else}}<b>NOT MET</b>{{end}}{{if .Indicative}} (indicative: {{.Note}}){{end}}</td></tr>
{{end}}</table>
<p><b>{{.Conclusion}}</b></p>
{{if ne .Cards .TargetCards}}<p>Memory and restart targets are defined for {{.TargetCards}} cards; this suite used {{.Cards}} cards.</p>{{end}}
<p>Hot and spread phases use mix <code>{{.HotMix}}</code> (chip left out: one card's ARQCs cannot stay in ATC order across connections). VmRSS after the restart: {{printf "%.0f" (mb .RSSAfterRestartBytes)}} MB.</p>
{{end}}
<table><tr><th>run</th><th>mode</th><th>conns</th><th>throughput/s</th><th>approved/s</th><th>p50 ms</th><th>p90 ms</th><th>p99 ms</th><th>p99.9 ms</th><th>max ms</th><th>errors</th><th>timeouts</th></tr>
{{range .Runs}}<tr><td>{{.Label}}</td><td>{{.Mode}}{{if eq .Mode "open"}} {{printf "%.0f" .RatePerSec}}/s{{end}}</td><td>{{.Connections}}</td><td>{{printf "%.0f" .ThroughputPerSec}}</td><td>{{printf "%.0f" .ApprovedPerSec}}</td><td>{{printf "%.3f" .Latency.P50Ms}}</td><td>{{printf "%.3f" .Latency.P90Ms}}</td><td>{{printf "%.3f" .Latency.P99Ms}}</td><td>{{printf "%.3f" .Latency.P999Ms}}</td><td>{{printf "%.3f" .Latency.MaxMs}}</td><td>{{.Errors}}</td><td>{{.Timeouts}}</td></tr>
{{end}}</table>
{{with .R.CPUCompare}}
<h2>CPU per approved authorization by traffic type</h2>
<p>Switch CPU time (utime + stime of /proc/PID/stat, {{.ClockTicks}} ticks/s) over {{if .RatePerSec}}open-loop phases at {{printf "%.0f" .RatePerSec}}/s{{else}}closed-loop phases{{end}} of one kind each, {{.Connections}} connections{{if not .RatePerSec}} × {{.Pipeline}} in flight{{end}}, {{.Rounds}} × {{.PhaseDuration}} per kind{{with .LoadAvg}}, load average at the end {{.}}{{end}}.</p>
<table><tr><th>kind</th><th>CPU µs / approval</th><th>approved</th><th>approved/s</th><th>CPU s</th><th>errors</th><th>timeouts</th><th>µs per round</th></tr>
{{range .Phases}}<tr><td>{{.Kind}}</td><td>{{printf "%.1f" .CPUPerApprovedUs}}</td><td>{{.Approved}}</td><td>{{printf "%.0f" .ApprovedPerSec}}</td><td>{{printf "%.2f" .CPUSeconds}}</td><td>{{.Errors}}</td><td>{{.Timeouts}}</td><td>{{range $i, $v := .RoundsUs}}{{if $i}} / {{end}}{{printf "%.1f" $v}}{{end}}</td></tr>
{{end}}</table>
<p><b>chip / ecom {{printf "%.2f" .ChipOverEcom}}, pin / ecom {{printf "%.2f" .PINOverEcom}}</b> (target ≤ {{printf "%.2f" .Target}}: {{if .Met}}met{{else}}not met{{end}}); per round chip / ecom {{range $i, $v := .RoundChipOverEcom}}{{if $i}} / {{end}}{{printf "%.2f" $v}}{{end}}, pin / ecom {{range $i, $v := .RoundPINOverEcom}}{{if $i}} / {{end}}{{printf "%.2f" $v}}{{end}}</p>
{{end}}
{{range .Runs}}
<h2>{{.Label}} — {{.Addr}}</h2>
<p>{{.Mode}} loop, {{.Connections}} connections{{if .Pipeline}}, {{.Pipeline}} in flight each{{end}}, duration {{.Duration}} (warm-up {{.Warmup}}), mix <code>{{.MixText}}</code>, {{.Cards}} cards{{if .Hot}} (hot: every request on one card){{end}}. Sent {{.Sent}}, answered {{.Completed}}, approved {{.Approved}}. Generator: {{printf "%.2f" .PrepareSeconds}} s of preparation before the clock{{if or .AnswerChecks.ChipPrebuilt .AnswerChecks.ChipInline}}; chip ARQCs prebuilt {{.AnswerChecks.ChipPrebuilt}}, built during the run {{.AnswerChecks.ChipInline}}{{end}}.</p>
<div class="plots">{{.LatencyPlot}}{{.DistPlot}}{{.ThroughputPlot}}</div>
<table><tr><th>field 39</th><th>count</th></tr>{{range .Codes}}<tr><td>{{.Code}}</td><td>{{.Count}}</td></tr>{{end}}</table>
{{end}}
</body></html>
`))

// setRatios sets cardswitch's figures as ratios to a baseline run of the same options.
func (r *Report) setRatios(sw, base *RunResult, baseline string) {
	r.Baseline = baseline
	if sw.Mode == "closed" && base.ThroughputPerSec > 0 {
		v := sw.ApprovedPerSec / base.ThroughputPerSec
		r.Ratio = &v
	}
	if base.Latency.P99Ms > 0 {
		v := sw.Latency.P99Ms / base.Latency.P99Ms
		r.LatencyRatioP99 = &v
	}
	if base.Latency.P999Ms > 0 {
		v := sw.Latency.P999Ms / base.Latency.P999Ms
		r.LatencyRatioP999 = &v
	}
}
