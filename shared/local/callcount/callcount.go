// Package callcount counts the HTTP calls an SDK client makes, by sitting
// under it as its transport. Tests and the bench use it to prove how many
// DynamoDB and SQS calls a path costs (the sold-out path: none).
package callcount

import (
	"net/http"
	"sync/atomic"
)

// Counter is an http.RoundTripper that counts the calls an SDK client makes.
type Counter struct {
	Next  http.RoundTripper
	calls atomic.Int64
}

// RoundTrip counts and forwards.
func (c *Counter) RoundTrip(r *http.Request) (*http.Response, error) {
	c.calls.Add(1)
	next := c.Next
	if next == nil {
		next = http.DefaultTransport
	}
	return next.RoundTrip(r)
}

// Calls is the count so far.
func (c *Counter) Calls() int64 { return c.calls.Load() }
