// Package bench holds the measurements behind `make bench`: the store's raw
// ceiling, a bare HTTP baseline and Lambda bootstrap init times. The load
// itself comes from shared/ops/loadtest, and call counts from
// shared/local/callcount.
package bench

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Ceiling measures conditional UpdateItem/s on one hot item: the most a
// single stock item can take on this DynamoDB, with inFlight callers for d.
func Ceiling(ctx context.Context, db *dynamodb.Client, table string, inFlight int, d time.Duration) (float64, error) {
	k := map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "BENCH#ceiling"}}
	if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &table, Item: map[string]types.AttributeValue{
		"pk": k["pk"], "available": &types.AttributeValueMemberN{Value: "1000000000"},
	}}); err != nil {
		return 0, fmt.Errorf("seed ceiling item: %w", err)
	}
	return hammer(ctx, inFlight, d, "ceiling updates", func() error {
		_, err := db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName:                 &table,
			Key:                       k,
			UpdateExpression:          aws.String("SET available = available - :q"),
			ConditionExpression:       aws.String("available >= :q"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":q": &types.AttributeValueMemberN{Value: "1"}},
		})
		return err
	})
}

// hammer calls op from inFlight goroutines until d has passed and returns
// the successful calls per second; any failure fails the measurement.
func hammer(ctx context.Context, inFlight int, d time.Duration, what string, op func() error) (float64, error) {
	var ok, failed atomic.Int64
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	start := time.Now()
	for range inFlight {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) && ctx.Err() == nil {
				if err := op(); err != nil {
					failed.Add(1)
					continue
				}
				ok.Add(1)
			}
		}()
	}
	wg.Wait()
	if n := failed.Load(); n > 0 {
		return 0, fmt.Errorf("%d %s failed", n, what)
	}
	return float64(ok.Load()) / time.Since(start).Seconds(), nil
}

// BareServer answers every request with the same 410 the gateway sends after
// a sell-out: the baseline the gateway's rejection path is compared with.
func BareServer(ctx context.Context) (url string, stop func(), err error) {
	body := []byte(`{"error":{"code":"sold_out","message":"sold out"}}`)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusGone)
		w.Write(body)
	})}
	go srv.Serve(ln)
	return "http://" + ln.Addr().String(), func() { srv.Close() }, nil
}

// InitTime runs a Lambda bootstrap against a fake Runtime API and measures
// the time from exec until it first asks for an invocation: its init. The
// binary must be built for this machine (the deployable ones are arm64).
func InitTime(ctx context.Context, bootstrap string, env []string) (time.Duration, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	ready := make(chan time.Time, 1)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case ready <- time.Now():
		default:
		}
		<-r.Context().Done() // hold "next invocation" open until we stop
	})}
	go srv.Serve(ln)
	defer srv.Close()

	cmd := exec.CommandContext(ctx, bootstrap)
	cmd.Env = append(append(os.Environ(), env...), "AWS_LAMBDA_RUNTIME_API="+ln.Addr().String())
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("start %s: %w", bootstrap, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Kill()
		<-exited
	}()
	select {
	case t := <-ready:
		return t.Sub(start), nil
	case err := <-exited:
		exited <- err // for the deferred drain
		if err == nil {
			// A clean exit has no error to print ("…: <nil>").
			return 0, fmt.Errorf("%s exited with status 0 before asking for work", bootstrap)
		}
		return 0, fmt.Errorf("%s exited before asking for work: %w", bootstrap, err)
	case <-time.After(30 * time.Second):
		return 0, fmt.Errorf("%s not ready after 30 s", bootstrap)
	}
}

// Median of a non-empty sample.
func Median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// TransactCeiling measures TransactWriteItems/s of three fresh items each
// (the shape of the purchase path's first write) on the same DynamoDB, with
// inFlight callers for d. Set beside Ceiling, it shows what one transaction
// costs the store in conditional updates.
func TransactCeiling(ctx context.Context, db *dynamodb.Client, table string, inFlight int, d time.Duration) (float64, error) {
	var seq atomic.Int64
	run := time.Now().UnixNano() // fresh keys for every call of TransactCeiling
	return hammer(ctx, inFlight, d, "transactions", func() error {
		n := seq.Add(1)
		items := make([]types.TransactWriteItem, 3)
		for j := range items {
			items[j] = types.TransactWriteItem{Put: &types.Put{
				TableName: &table,
				Item: map[string]types.AttributeValue{
					"pk":    &types.AttributeValueMemberS{Value: fmt.Sprintf("BENCH#txn#%d#%d#%d", run, n, j)},
					"value": &types.AttributeValueMemberN{Value: "1"},
				},
				ConditionExpression: aws.String("attribute_not_exists(pk)"),
			}}
		}
		_, err := db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
		return err
	})
}
