package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"flashsale/shared/flashsale"
	"flashsale/shared/local/devstack"
	"flashsale/shared/local/prepare"
)

// The demo's preparation phase: the sale is imported from a catalog file
// before it opens, buyers ask to be reminded, its warm-up and remind
// schedules fire on the stack's clock, and only then does the burst start.
const (
	// demoLead is the lead of a stack the demo starts itself: seconds
	// rather than 10 minutes, so the preparation shows in a demo. A running
	// `make dev` keeps its own lead; its schedules are then already due
	// when the sale is created and fire at the next tick.
	demoLead = 15 * time.Second
	// demoOpensIn is how long after its import the demo sale opens: the
	// lead plus a few seconds for the subscriptions.
	demoOpensIn = demoLead + 5*time.Second
	// demoSubscribers is how many of the crowd ask to be reminded.
	demoSubscribers = 100
)

// prepared is what the preparation phase did, for the checks.
type prepared struct {
	subscribers []string
	// reminded counts the outbox lines per subscriber after two remind
	// runs.
	reminded map[string]int
}

// prepareDemoSale imports the demo sale, subscribes the first buyers to its
// reminder, waits for its warm-up and reminders, and returns when the sale
// opens.
func prepareDemoSale(ctx context.Context, api *apiClient, state string, o demoOptions, saleID string, tokens []string,
	say func(string, ...any), stdout, stderr io.Writer) (prepared, error) {
	info, err := devstack.ReadStackInfo(state)
	if err != nil {
		return prepared{}, err
	}
	if info.ControlURL == "" {
		return prepared{}, errors.New("the running stack has no control port (an older `flashsale dev`?): restart it")
	}
	control := &prepare.Client{URL: info.ControlURL}

	opens := time.Now().UTC().Add(demoOpensIn).Truncate(time.Second).Add(time.Second)
	path, err := writeDemoCatalog(state, o, saleID, opens)
	if err != nil {
		return prepared{}, err
	}
	say("\npreparation (lead %s): importing %s", time.Duration(info.LeadSeconds)*time.Second, path)
	if err := runSalesImport(ctx, salesImportOptions{state: state, file: path, concurrency: 1}, stdout, stderr); err != nil {
		return prepared{}, fmt.Errorf("import the demo catalog: %w", err)
	}

	p := prepared{subscribers: make([]string, 0, min(demoSubscribers, len(tokens)))}
	for i := range cap(p.subscribers) {
		p.subscribers = append(p.subscribers, fmt.Sprintf("%s-buyer-%d", saleID, i+1))
	}
	if err := subscribeAll(ctx, api, saleID, tokens[:len(p.subscribers)]); err != nil {
		return prepared{}, err
	}
	say("%d buyers asked to be reminded (POST /sales/%s/reminders)", len(p.subscribers), saleID)

	// Wait for the events, not for the clock: the schedules fire at
	// opens − lead, or at once on a stack whose lead is longer than the
	// demo's wait.
	for _, job := range []string{string(flashsale.JobWarmUp), string(flashsale.JobRemind)} {
		e, err := waitFired(ctx, control, flashsale.ScheduleName(saleID, job), opens)
		if err != nil {
			return prepared{}, err
		}
		say("  %-8s fired at %s: %s", job, e.FiredAt.Format(time.TimeOnly), e.Outcome())
	}
	// The notifier runs once more, as a retried or last-call run would:
	// it reaches anyone who subscribed after the first run, and nobody
	// twice.
	again, err := control.Invoke(ctx, flashsale.Schedule{Name: "demo-rerun", SaleID: saleID, Job: flashsale.JobRemind, At: time.Now().UTC()})
	if err != nil {
		return prepared{}, fmt.Errorf("second remind run: %w", err)
	}
	var st flashsale.RemindStats
	if err := json.Unmarshal(again, &st); err != nil {
		return prepared{}, err
	}
	say("  remind   ran again: sent %d, %d notified before", st.Sent, st.Before)
	if p.reminded, err = outboxCounts(filepath.Join(state, prepare.OutboxFile), saleID); err != nil {
		return prepared{}, err
	}
	if pc, err := control.Provisioned(ctx); err == nil {
		say("  reserve provisioned concurrency now %d: the baseline %d plus the plan of each sale running (flashsale schedule list)", pc.Current, pc.Baseline)
	}

	if wait := time.Until(opens); wait > 0 {
		say("the sale opens at %s; waiting %s", opens.Format(time.TimeOnly), wait.Round(100*time.Millisecond))
		select {
		case <-ctx.Done():
			return prepared{}, ctx.Err()
		case <-time.After(wait):
		}
	}
	return p, nil
}

// writeDemoCatalog writes the demo sale as a one-row JSON catalog in the
// state folder, as an operator would prepare a day's sales.
func writeDemoCatalog(state string, o demoOptions, saleID string, opens time.Time) (string, error) {
	shards := int(math.Ceil(float64(o.units) / 250)) // a few hundred units a shard keeps probes rare
	row := map[string]any{
		"saleId": saleID, "name": "Demo flash sale", "priceCents": 1999, "currency": "USD",
		"startsAt": opens.Format(time.RFC3339), "endsAt": opens.Add(time.Hour).Format(time.RFC3339),
		"stock": o.units, "perUserLimit": 1, "paymentWindowSeconds": int(o.window.Seconds()), "shards": min(shards, flashsale.MaxShards),
		"admission": map[string]any{"purchaseToken": true, "challengeMaxNumber": o.challengeMax},
	}
	b, err := json.MarshalIndent([]any{row}, "", "  ")
	if err != nil {
		return "", err
	}
	path := filepath.Join(state, "demo-catalog.json")
	return path, os.WriteFile(path, append(b, '\n'), 0o600)
}

// subscribeAll asks for a reminder as each buyer, a few at a time.
func subscribeAll(ctx context.Context, api *apiClient, saleID string, tokens []string) error {
	var mu sync.Mutex
	var firstErr error
	runParallel(8, len(tokens), func(i int) {
		status, body, err := api.call(ctx, http.MethodPost, "/sales/"+saleID+"/reminders", "",
			map[string]string{"Authorization": "Bearer " + tokens[i], "x-api-key": api.issuer.APIKey()}, nil)
		if err == nil && status != http.StatusCreated {
			err = fmt.Errorf("POST /sales/%s/reminders answered %d %s", saleID, status, body)
		}
		if err != nil {
			mu.Lock()
			if firstErr == nil {
				firstErr = err
			}
			mu.Unlock()
		}
	})
	return firstErr
}

// waitFired polls the control port until the schedule has fired; it gives
// up once the sale has been open a while, which no schedule due before the
// opening should take.
func waitFired(ctx context.Context, c *prepare.Client, name string, opens time.Time) (prepare.Entry, error) {
	deadline := opens.Add(time.Minute)
	for {
		list, err := c.Schedules(ctx)
		if err != nil {
			return prepare.Entry{}, err
		}
		for _, e := range list.Schedules {
			if e.Name != name {
				continue
			}
			switch e.Status {
			case prepare.StatusFired:
				return e, nil
			case prepare.StatusFailed:
				return e, fmt.Errorf("schedule %s failed: %s", name, e.Error)
			}
		}
		if time.Now().After(deadline) {
			return prepare.Entry{}, fmt.Errorf("schedule %s had not fired a minute after the sale opened (flashsale schedule list shows them)", name)
		}
		select {
		case <-ctx.Done():
			return prepare.Entry{}, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// outboxCounts reads how many reminders each user got for a sale.
func outboxCounts(path, saleID string) (map[string]int, error) {
	lines, err := prepare.ReadOutbox(path)
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	for _, l := range lines {
		if l.SaleID == saleID {
			out[l.UserID]++
		}
	}
	return out, nil
}
