// Package memqueue is an in-memory flashsale.OrderQueue for tests and handler
// benchmarks: it keeps what was sent instead of delivering it.
package memqueue

import (
	"bytes"
	"context"
	"sync"

	"flashsale/shared/flashsale"
)

// Queue is an in-memory flashsale.OrderQueue. Like a FIFO queue's
// deduplication, a second message with an order ID already sent is dropped
// without an error; unlike SQS the window never closes.
type Queue struct {
	mu   sync.Mutex
	seen map[string]bool
	msgs [][]byte
}

var _ flashsale.OrderQueue = (*Queue)(nil)

// New returns an empty Queue.
func New() *Queue { return &Queue{seen: map[string]bool{}} }

// Enqueue records body unless orderID was already enqueued. It never fails.
func (q *Queue) Enqueue(_ context.Context, orderID, _ string, body []byte) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.seen[orderID] {
		return nil
	}
	q.seen[orderID] = true
	q.msgs = append(q.msgs, bytes.Clone(body))
	return nil
}

// Messages returns a copy of every message kept, in the order sent.
func (q *Queue) Messages() [][]byte {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := make([][]byte, len(q.msgs))
	for i, m := range q.msgs {
		out[i] = bytes.Clone(m)
	}
	return out
}

// Len is the number of messages kept.
func (q *Queue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.msgs)
}
