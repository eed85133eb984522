// Package cdp drives a headless Chromium over the Chrome DevTools Protocol
// for the browser tests (bridge pages, console). It speaks CDP over
// --remote-debugging-pipe (NUL-delimited JSON on file descriptors 3 and 4),
// so no debugging port is opened at all.
package cdp

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"time"
)

// Browser is a running Chromium.
type Browser struct {
	cmd    *exec.Cmd
	toPipe *os.File
	stderr *tailBuffer

	nextID  atomic.Int64
	mu      sync.Mutex
	pending map[int64]chan message
	done    chan struct{}
	readErr error
}

type message struct {
	ID        int64           `json:"id,omitempty"`
	SessionID string          `json:"sessionId,omitempty"`
	Method    string          `json:"method,omitempty"`
	Params    any             `json:"params,omitempty"`
	Result    json.RawMessage `json:"result,omitempty"`
	Error     *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error,omitempty"`
}

// Flags are the headless flags the issue prescribes, plus the pipe.
var Flags = []string{
	"--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
	"--disable-background-networking", "--disable-component-update", "--disable-sync",
	"--remote-debugging-pipe", "--disable-dev-shm-usage", "--no-default-browser-check",
}

// Launch starts execPath with a fresh profile in userDataDir.
func Launch(execPath, userDataDir string) (*Browser, error) {
	// Chromium reads commands from fd 3 and writes replies to fd 4.
	cmdR, cmdW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	resR, resW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	args := append(append([]string{}, Flags...), "--user-data-dir="+userDataDir, "about:blank")
	cmd := exec.Command(execPath, args...)
	cmd.ExtraFiles = []*os.File{cmdR, resW}
	b := &Browser{cmd: cmd, toPipe: cmdW, stderr: &tailBuffer{max: 8 << 10}, pending: map[int64]chan message{}, done: make(chan struct{})}
	cmd.Stderr = b.stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", execPath, err)
	}
	cmdR.Close()
	resW.Close()
	go b.readLoop(resR)
	return b, nil
}

func (b *Browser) readLoop(r io.ReadCloser) {
	defer close(b.done)
	defer r.Close()
	br := bufio.NewReaderSize(r, 1<<20)
	for {
		frame, err := br.ReadBytes(0)
		if err != nil {
			b.readErr = err
			return
		}
		var m message
		if err := json.Unmarshal(frame[:len(frame)-1], &m); err != nil || m.ID == 0 {
			continue // events are not needed by these tests
		}
		b.mu.Lock()
		ch := b.pending[m.ID]
		delete(b.pending, m.ID)
		b.mu.Unlock()
		if ch != nil {
			ch <- m
		}
	}
}

// call sends one command (to a target session when sessionID is set) and
// decodes its result into out.
func (b *Browser) call(ctx context.Context, sessionID, method string, params, out any) error {
	id := b.nextID.Add(1)
	ch := make(chan message, 1)
	b.mu.Lock()
	b.pending[id] = ch
	b.mu.Unlock()
	frame, err := json.Marshal(message{ID: id, SessionID: sessionID, Method: method, Params: params})
	if err != nil {
		return err
	}
	if _, err := b.toPipe.Write(append(frame, 0)); err != nil {
		return fmt.Errorf("cdp %s: %w (stderr: %s)", method, err, b.stderr)
	}
	select {
	case m := <-ch:
		if m.Error != nil {
			return fmt.Errorf("cdp %s: %s", method, m.Error.Message)
		}
		if out != nil {
			return json.Unmarshal(m.Result, out)
		}
		return nil
	case <-b.done:
		return fmt.Errorf("cdp %s: browser exited: %v (stderr: %s)", method, b.readErr, b.stderr)
	case <-ctx.Done():
		return fmt.Errorf("cdp %s: %w", method, ctx.Err())
	}
}

// Page is one tab.
type Page struct {
	b         *Browser
	targetID  string
	sessionID string
}

// NewPage opens a tab at url.
func (b *Browser) NewPage(ctx context.Context, url string) (*Page, error) {
	var created struct {
		TargetID string `json:"targetId"`
	}
	if err := b.call(ctx, "", "Target.createTarget", map[string]any{"url": "about:blank"}, &created); err != nil {
		return nil, err
	}
	var attached struct {
		SessionID string `json:"sessionId"`
	}
	if err := b.call(ctx, "", "Target.attachToTarget", map[string]any{"targetId": created.TargetID, "flatten": true}, &attached); err != nil {
		return nil, err
	}
	p := &Page{b: b, targetID: created.TargetID, sessionID: attached.SessionID}
	return p, p.Navigate(ctx, url)
}

// Navigate loads url in the tab.
func (p *Page) Navigate(ctx context.Context, url string) error {
	var res struct {
		ErrorText string `json:"errorText"`
	}
	if err := p.b.call(ctx, p.sessionID, "Page.navigate", map[string]any{"url": url}, &res); err != nil {
		return err
	}
	if res.ErrorText != "" {
		return fmt.Errorf("navigate %s: %s", url, res.ErrorText)
	}
	return nil
}

// Eval evaluates a JavaScript expression (awaiting a promise) and decodes
// its value into out.
func (p *Page) Eval(ctx context.Context, expr string, out any) error {
	var res struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		Exception *struct {
			Text      string `json:"text"`
			Exception struct {
				Description string `json:"description"`
			} `json:"exception"`
		} `json:"exceptionDetails"`
	}
	err := p.b.call(ctx, p.sessionID, "Runtime.evaluate",
		map[string]any{"expression": expr, "awaitPromise": true, "returnByValue": true}, &res)
	if err != nil {
		return err
	}
	if res.Exception != nil {
		return fmt.Errorf("js: %s %s", res.Exception.Text, res.Exception.Exception.Description)
	}
	if out == nil || len(res.Result.Value) == 0 {
		return nil
	}
	return json.Unmarshal(res.Result.Value, out)
}

// WaitTrue polls a boolean expression until it is true or ctx ends.
func (p *Page) WaitTrue(ctx context.Context, expr string) error {
	for {
		var ok bool
		err := p.Eval(ctx, "Boolean("+expr+")", &ok)
		if err == nil && ok {
			return nil
		}
		select {
		case <-ctx.Done():
			if err == nil {
				err = errors.New("still false")
			}
			return fmt.Errorf("waiting for %s: %v", expr, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// SetViewport sizes the tab (CSS pixels), e.g. a laptop screen, so
// screenshots and layout do not depend on the headless default.
func (p *Page) SetViewport(ctx context.Context, width, height int) error {
	return p.b.call(ctx, p.sessionID, "Emulation.setDeviceMetricsOverride",
		map[string]any{"width": width, "height": height, "deviceScaleFactor": 1, "mobile": false}, nil)
}

// Screenshot captures the tab as a PNG.
func (p *Page) Screenshot(ctx context.Context) ([]byte, error) {
	var res struct {
		Data []byte `json:"data"` // base64 in JSON: decoded by encoding/json
	}
	// A background tab is not painted, and its capture never completes.
	if err := p.b.call(ctx, p.sessionID, "Page.bringToFront", nil, nil); err != nil {
		return nil, err
	}
	if err := p.b.call(ctx, p.sessionID, "Page.captureScreenshot", map[string]any{"format": "png"}, &res); err != nil {
		return nil, err
	}
	return res.Data, nil
}

// SetInputFiles sets the files of the <input type=file> matching selector,
// as a user picking them would (the page sees a change event).
func (p *Page) SetInputFiles(ctx context.Context, selector string, paths ...string) error {
	var doc struct {
		Root struct {
			NodeID int64 `json:"nodeId"`
		} `json:"root"`
	}
	if err := p.b.call(ctx, p.sessionID, "DOM.getDocument", map[string]any{"depth": 0}, &doc); err != nil {
		return err
	}
	var q struct {
		NodeID int64 `json:"nodeId"`
	}
	if err := p.b.call(ctx, p.sessionID, "DOM.querySelector", map[string]any{"nodeId": doc.Root.NodeID, "selector": selector}, &q); err != nil {
		return err
	}
	if q.NodeID == 0 {
		return fmt.Errorf("no element matches %s", selector)
	}
	if err := p.b.call(ctx, p.sessionID, "DOM.setFileInputFiles", map[string]any{"nodeId": q.NodeID, "files": paths}, nil); err != nil {
		return err
	}
	return nil
}

// Press types one key (as a keyboard would: keyDown then keyUp) into the
// focused element; key is a DOM key name such as "Escape", "Enter", "Tab".
func (p *Page) Press(ctx context.Context, key string) error {
	codes := map[string]int{"Escape": 27, "Enter": 13, "Tab": 9, " ": 32}
	for _, typ := range []string{"keyDown", "keyUp"} {
		ev := map[string]any{"type": typ, "key": key, "code": key, "windowsVirtualKeyCode": codes[key]}
		if key == "Enter" && typ == "keyDown" {
			ev["text"] = "\r"
		}
		if err := p.b.call(ctx, p.sessionID, "Input.dispatchKeyEvent", ev, nil); err != nil {
			return err
		}
	}
	return nil
}

// Close asks the browser to exit and waits for it (killing it if it
// lingers).
func (b *Browser) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_ = b.call(ctx, "", "Browser.close", nil, nil)
	exited := make(chan error, 1)
	go func() { exited <- b.cmd.Wait() }()
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
		b.cmd.Process.Kill()
		<-exited
	}
	return b.toPipe.Close()
}

// tailBuffer keeps the last max bytes of the browser's stderr for errors.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.max {
		t.buf = t.buf[len(t.buf)-t.max:]
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}
