package devstack

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"flashsale/shared/dynamostore"
	"flashsale/shared/local/livestats"
)

// shownFor is how long after its end a sale stays on the live view
// without traffic.
const shownFor = time.Hour

// newLiveStats builds the collector behind the live view. Its gauges use
// the stack's plain clients, not Config's counted ones, so watching a
// bench does not blur its call counts, and they run only while someone
// watches. Remaining stock comes from the service's GetSale, so the page
// shows what GET /sales/{id} answers.
func (s *Stack) newLiveStats() *livestats.Collector {
	sales := dynamostore.New(s.DynamoDB, s.Settings.SalesTable, s.Settings.OrdersTable)
	return livestats.New(nil, livestats.Gauges{
		Sales: func(ctx context.Context) ([]string, error) {
			all, err := sales.ListSales(ctx)
			if err != nil {
				return nil, err
			}
			now := s.cfg.Now()
			var ids []string
			for _, st := range all {
				if now.Sub(st.EndsAt) < shownFor {
					ids = append(ids, st.ID)
				}
			}
			return ids, nil
		},
		Sale: func(ctx context.Context, id string) (livestats.SaleGauge, error) {
			v, err := s.App.Service.GetSale(ctx, id)
			if err != nil {
				return livestats.SaleGauge{}, err
			}
			return livestats.SaleGauge{Name: v.Name, Status: string(v.Status), Remaining: v.Remaining}, nil
		},
		Queue: func(ctx context.Context) (livestats.Queue, error) {
			out, err := s.SQS.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
				QueueUrl: aws.String(s.Settings.OrdersQueueURL),
				AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages,
					sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible},
			})
			if err != nil {
				return livestats.Queue{}, fmt.Errorf("orders queue depth: %w", err)
			}
			var q livestats.Queue
			q.Visible, _ = strconv.ParseInt(out.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessages)], 10, 64)
			q.NotVisible, _ = strconv.ParseInt(out.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible)], 10, 64)
			return q, nil
		},
	})
}

// controlHandler serves the control port: the preparation routes and the
// live view under livestats.Path. The live view is on the control port,
// not the gateway, because the gateway answers only the API's routes, as
// API Gateway does (anything else is 403), and its WAF rule and throttles
// would count the page's requests.
func (s *Stack) controlHandler(prep http.Handler) http.Handler {
	done := make(chan struct{})
	var once sync.Once
	// The event streams never end on their own; the shutdown ends them.
	s.control.RegisterOnShutdown(func() { once.Do(func() { close(done) }) })
	mux := http.NewServeMux()
	mux.Handle("/", prep)
	live := livestats.Handler(s.Stats, done)
	mux.Handle(livestats.Path, live)
	mux.Handle(livestats.Path+"/", live)
	return mux
}
