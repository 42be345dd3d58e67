package prepare

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"time"

	"flashsale/shared/flashsale"
)

// OutboxFile is the local notifier's file in the state folder: one JSON
// line per reminder sent.
const OutboxFile = "outbox.jsonl"

// Sent is one outbox line: the reminder and when it went.
type Sent struct {
	SentAt time.Time `json:"sentAt"`
	flashsale.ReminderMessage
}

// Outbox is the local flashsale.Notifier: where SNS would deliver a push,
// it appends a line to a file. It is safe for concurrent use.
type Outbox struct {
	path string
	now  func() time.Time
	mu   sync.Mutex
}

// NewOutbox appends to path, stamping lines with now (nil: time.Now in UTC).
func NewOutbox(path string, now func() time.Time) *Outbox {
	if now == nil {
		now = func() time.Time { return time.Now().UTC() }
	}
	return &Outbox{path: path, now: now}
}

// Path is the outbox file.
func (o *Outbox) Path() string { return o.path }

// Notify appends one line for m. The file is opened per line, so a
// developer may delete it while the stack runs.
func (o *Outbox) Notify(_ context.Context, m flashsale.ReminderMessage) error {
	b, err := json.Marshal(Sent{SentAt: o.now().UTC(), ReminderMessage: m})
	if err != nil {
		return fmt.Errorf("outbox: encode reminder: %w", err)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	f, err := os.OpenFile(o.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	// One write per line: lines never interleave, and a failed write
	// leaves at most a torn last line, which ReadOutbox reports.
	_, werr := f.Write(append(b, '\n'))
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return fmt.Errorf("outbox: write %s: %w", o.path, werr)
	}
	return nil
}

// ErrNoOutbox means no reminder has been sent yet: the file does not exist.
var ErrNoOutbox = errors.New("no reminder has been sent yet")

// ReadOutbox reads every line of an outbox file.
// Errors: ErrNoOutbox; a line that is not a reminder, with its number.
func ReadOutbox(path string) ([]Sent, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w (no %s)", ErrNoOutbox, path)
	}
	if err != nil {
		return nil, fmt.Errorf("read outbox: %w", err)
	}
	defer f.Close()
	var out []Sent
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		if len(sc.Bytes()) == 0 {
			continue
		}
		var s Sent
		if err := json.Unmarshal(sc.Bytes(), &s); err != nil {
			return out, fmt.Errorf("read %s line %d: %w", path, n, err)
		}
		out = append(out, s)
	}
	if err := sc.Err(); err != nil {
		return out, fmt.Errorf("read %s: %w", path, err)
	}
	return out, nil
}
