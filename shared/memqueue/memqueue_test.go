package memqueue_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"flashsale/shared/memqueue"
)

func TestQueue(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		sent []string // order IDs, in order; the body is "body-<id>"
		want []string
	}{
		{name: "empty", want: []string{}},
		{name: "distinct orders", sent: []string{"a", "b", "c"}, want: []string{"body-a", "body-b", "body-c"}},
		{name: "duplicates dropped", sent: []string{"a", "b", "a", "a", "b"}, want: []string{"body-a", "body-b"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q := memqueue.New()
			for _, id := range tc.sent {
				if err := q.Enqueue(ctx, id, "user", []byte("body-"+id)); err != nil {
					t.Fatalf("Enqueue(%s): got error %v, want nil", id, err)
				}
			}
			got := q.Messages()
			if q.Len() != len(tc.want) || len(got) != len(tc.want) {
				t.Fatalf("Len() = %d, len(Messages()) = %d, want %d", q.Len(), len(got), len(tc.want))
			}
			for i := range got {
				if string(got[i]) != tc.want[i] {
					t.Errorf("Messages()[%d] = %q, want %q", i, got[i], tc.want[i])
				}
			}
		})
	}
}

func TestQueue_Copies(t *testing.T) {
	q := memqueue.New()
	body := []byte("hello")
	if err := q.Enqueue(context.Background(), "o1", "u1", body); err != nil {
		t.Fatalf("Enqueue: got error %v, want nil", err)
	}
	body[0] = 'X'
	q.Messages()[0][0] = 'Y'
	if got := string(q.Messages()[0]); got != "hello" {
		t.Errorf("Messages()[0] = %q after callers changed their copies, want %q", got, "hello")
	}
}

func TestQueue_Concurrent(t *testing.T) {
	const senders, orders = 16, 100
	q := memqueue.New()
	var wg sync.WaitGroup
	for range senders {
		wg.Go(func() {
			for i := range orders {
				id := fmt.Sprint(i)
				if err := q.Enqueue(context.Background(), id, "u", []byte(id)); err != nil {
					t.Errorf("Enqueue(%s): got error %v, want nil", id, err)
				}
			}
		})
	}
	wg.Wait()
	if got := q.Len(); got != orders {
		t.Errorf("Len() after %d senders sent the same %d orders = %d, want %d", senders, orders, got, orders)
	}
}
