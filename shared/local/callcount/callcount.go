// Package callcount counts the HTTP calls an SDK client makes, by sitting
// under it as its transport. Tests and the bench use it to prove how many
// DynamoDB and SQS calls a path costs (the sold-out path: none).
package callcount

import (
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
)

// Counter is an http.RoundTripper that counts the calls an SDK client makes,
// in all and by operation.
type Counter struct {
	Next  http.RoundTripper
	calls atomic.Int64

	mu   sync.Mutex
	byOp map[string]int64
}

// RoundTrip counts and forwards.
func (c *Counter) RoundTrip(r *http.Request) (*http.Response, error) {
	c.calls.Add(1)
	if op := operation(r); op != "" {
		c.mu.Lock()
		if c.byOp == nil {
			c.byOp = map[string]int64{}
		}
		c.byOp[op]++
		c.mu.Unlock()
	}
	next := c.Next
	if next == nil {
		next = http.DefaultTransport
	}
	return next.RoundTrip(r)
}

// operation names the API action of a JSON-protocol call (DynamoDB, SQS):
// X-Amz-Target is "DynamoDB_20120810.GetItem" or "AmazonSQS.SendMessage".
func operation(r *http.Request) string {
	t := r.Header.Get("X-Amz-Target")
	if i := strings.LastIndexByte(t, '.'); i >= 0 {
		return t[i+1:]
	}
	return ""
}

// Calls is the count so far.
func (c *Counter) Calls() int64 { return c.calls.Load() }

// Operation is the count so far of one action, e.g. "GetItem".
func (c *Counter) Operation(name string) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.byOp[name]
}
