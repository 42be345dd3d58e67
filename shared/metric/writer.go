package metric

import (
	"context"
	"encoding/json"
	"time"
)

// ServiceOrderWriter is the DimensionService value of the order writer.
const ServiceOrderWriter = "order-writer"

// PoisonMessages is the number of order messages the writer could never
// process and set aside in the dead-letter queue (Count, one line each).
// The dead-letter queue's depth alarm fires on the same messages.
const PoisonMessages = "PoisonMessages"

// Poisoned writes one EMF line for a poison message set aside.
func (m *EMF) Poisoned(ctx context.Context, messageID string) {
	line := map[string]any{
		"_aws": map[string]any{
			"Timestamp": time.Now().UnixMilli(),
			"CloudWatchMetrics": []map[string]any{{
				"Namespace":  Namespace,
				"Dimensions": [][]string{{DimensionService}},
				"Metrics":    []map[string]string{{"Name": PoisonMessages, "Unit": "Count"}},
			}},
		},
		DimensionService: ServiceOrderWriter,
		"messageId":      messageID,
		PoisonMessages:   1,
	}
	b, err := json.Marshal(line)
	if err != nil {
		m.log.ErrorContext(ctx, "encode metrics", "err", err)
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, err := m.w.Write(append(b, '\n')); err != nil {
		m.log.ErrorContext(ctx, "write metrics", "err", err)
	}
}
