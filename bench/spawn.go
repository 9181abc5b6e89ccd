package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Spawned is a switch started by the bench on a temporary data directory and free ports.
type Spawned struct {
	Exe      string
	DataDir  string
	ISOAddr  string
	HTTPAddr string
	cmd      *exec.Cmd
	logFile  *os.File
	exited   chan error
	keep     bool
	common   []string // arguments of provision and serve: --data-dir, --config
	// ProvisionTook is how long provisioning the cards took; ReadyTook how long serve took from
	// start to a healthy /healthz.
	ProvisionTook, ReadyTook time.Duration
}

// freePort asks the kernel for a free loopback port.
func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// SpawnOptions say what to start.
type SpawnOptions struct {
	Exe        string // the cardswitch binary; default os.Executable()
	DataDir    string // default: a new temporary directory, removed on Stop unless Keep
	ConfigPath string // optional --config for provision and serve
	Cards      int
	Keep       bool
	Log        io.Writer // progress messages
}

// Spawn provisions the cards and starts `cardswitch serve`, waiting for /healthz.
func Spawn(ctx context.Context, o SpawnOptions) (*Spawned, error) {
	exe := o.Exe
	if exe == "" {
		var err error
		if exe, err = os.Executable(); err != nil {
			return nil, fmt.Errorf("bench: spawn: %w", err)
		}
	}
	s := &Spawned{Exe: exe, DataDir: o.DataDir, keep: o.Keep || o.DataDir != ""}
	if s.DataDir == "" {
		dir, err := os.MkdirTemp("", "cardswitch-bench-")
		if err != nil {
			return nil, fmt.Errorf("bench: spawn: %w", err)
		}
		s.DataDir = dir
	}
	common := []string{"--data-dir", s.DataDir}
	if o.ConfigPath != "" {
		common = append(common, "--config", o.ConfigPath)
	}
	s.common = common
	logw := o.Log
	if logw == nil {
		logw = io.Discard
	}
	fmt.Fprintf(logw, "spawn: provisioning %d cards in %s\n", o.Cards, s.DataDir)
	began := time.Now()
	prov := exec.CommandContext(ctx, exe, append([]string{"provision", "--cards", strconv.Itoa(o.Cards)}, common...)...)
	out := &provisionOutput{w: logw, every: 10 * time.Second, last: began}
	prov.Stdout, prov.Stderr = out, out
	if err := prov.Run(); err != nil {
		s.cleanup()
		return nil, fmt.Errorf("bench: spawn: provision: %w\n%s", err, out.all.Bytes())
	}
	s.ProvisionTook = time.Since(began)
	var err error
	if s.ISOAddr, err = freePort(); err != nil {
		s.cleanup()
		return nil, err
	}
	if s.HTTPAddr, err = freePort(); err != nil {
		s.cleanup()
		return nil, err
	}
	if err := s.start(common); err != nil {
		s.cleanup()
		return nil, err
	}
	fmt.Fprintf(logw, "spawn: provisioned in %s; switch ready in %s (iso %s, http %s, pid %d)\n",
		s.ProvisionTook.Round(time.Millisecond), s.ReadyTook.Round(time.Millisecond), s.ISOAddr, s.HTTPAddr, s.cmd.Process.Pid)
	return s, nil
}

// provisionOutput keeps everything `cardswitch provision` writes and passes a progress line on
// to w at most every `every` (1,000,000 cards take a minute or more).
type provisionOutput struct {
	w       io.Writer
	every   time.Duration
	last    time.Time
	all     bytes.Buffer
	partial []byte
}

func (p *provisionOutput) Write(b []byte) (int, error) {
	p.all.Write(b)
	p.partial = append(p.partial, b...)
	for {
		i := bytes.IndexByte(p.partial, '\n')
		if i < 0 {
			break
		}
		line := strings.TrimSpace(string(p.partial[:i]))
		p.partial = p.partial[i+1:]
		if line != "" && (time.Since(p.last) >= p.every || strings.HasPrefix(line, "provisioned")) {
			p.last = time.Now()
			fmt.Fprintf(p.w, "spawn: provision: %s\n", line)
		}
	}
	return len(b), nil
}

func (s *Spawned) start(common []string) error {
	// Appended to: a restart (--suite) keeps the log of the first start.
	f, err := os.OpenFile(filepath.Join(s.DataDir, "serve.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("bench: spawn: %w", err)
	}
	s.logFile = f
	s.cmd = exec.Command(s.Exe, append([]string{"serve", "--iso-addr", s.ISOAddr, "--http-addr", s.HTTPAddr}, common...)...)
	s.cmd.Stdout, s.cmd.Stderr = f, f
	began := time.Now()
	if err := s.cmd.Start(); err != nil {
		return fmt.Errorf("bench: spawn: serve: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- s.cmd.Wait() }()
	if err := WaitHealthy(s.HTTPAddr, 120*time.Second, exited); err != nil {
		_ = s.cmd.Process.Kill()
		return fmt.Errorf("bench: spawn: serve did not become ready: %w (log: %s)", err, f.Name())
	}
	s.ReadyTook = time.Since(began)
	s.exited = exited
	return nil
}

// WaitHealthy polls GET /healthz until it answers 200.
func WaitHealthy(httpAddr string, timeout time.Duration, exited <-chan error) error {
	deadline := time.Now().Add(timeout)
	client := &http.Client{Timeout: time.Second}
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			return fmt.Errorf("serve exited: %v", err)
		default:
		}
		resp, err := client.Get("http://" + httpAddr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return errors.New("timeout waiting for /healthz")
}

// RSS is the switch's resident set size (VmRSS), in bytes.
func (s *Spawned) RSS() (int64, error) { return ProcessRSS(s.cmd.Process.Pid) }

// ProcessRSS reads VmRSS of a process from /proc.
func ProcessRSS(pid int) (int64, error) { return procStatus(pid, "VmRSS:") }

// MemorySplit is the switch's resident memory by kind: anonymous (the Go heap, stacks) and file
// pages (RssFile: pages of mapped files, Badger's tables, which the kernel can reclaim).
func (s *Spawned) MemorySplit() (anon, file int64, err error) {
	pid := s.cmd.Process.Pid
	if anon, err = procStatus(pid, "RssAnon:"); err != nil {
		return 0, 0, err
	}
	file, err = procStatus(pid, "RssFile:")
	return anon, file, err
}

// procStatus reads a size field (kB) of /proc/PID/status, in bytes.
func procStatus(pid int, field string) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field); ok {
			fields := strings.Fields(v)
			if len(fields) >= 1 {
				kb, err := strconv.ParseInt(fields[0], 10, 64)
				return kb * 1024, err
			}
		}
	}
	return 0, fmt.Errorf("%s not found", strings.TrimSuffix(field, ":"))
}

// Stop sends SIGTERM, waits for the switch to exit and removes the temporary directory.
func (s *Spawned) Stop() error {
	err := s.stopProcess()
	s.cleanup()
	return err
}

// stopProcess sends SIGTERM to the running switch and waits for it to exit (killing it after
// stopTimeout: a switch with 1,000,000 cards and a busy store takes a while to close).
func (s *Spawned) stopProcess() error {
	if s.cmd == nil || s.cmd.Process == nil || s.exited == nil {
		return nil
	}
	var err error
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case werr := <-s.exited:
		if werr != nil {
			err = fmt.Errorf("bench: serve exited: %w", werr)
		}
	case <-time.After(stopTimeout):
		_ = s.cmd.Process.Kill()
		<-s.exited
		err = fmt.Errorf("bench: serve did not stop within %s of SIGTERM; killed", stopTimeout)
	}
	s.exited = nil
	return err
}

// stopTimeout bounds the wait for the switch to exit after SIGTERM.
const stopTimeout = 90 * time.Second

func (s *Spawned) cleanup() {
	if s.logFile != nil {
		s.logFile.Close()
	}
	if !s.keep && s.DataDir != "" {
		os.RemoveAll(s.DataDir)
	}
}
