package handler

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"flashsale/shared/flashsale"
)

// saleJSON is a sale as GET /sales/{saleId} shows it.
type saleJSON struct {
	SaleID     string `json:"saleId"`
	Name       string `json:"name"`
	PriceCents int64  `json:"priceCents"`
	Currency   string `json:"currency"`
	StartsAt   string `json:"startsAt"`
	EndsAt     string `json:"endsAt"`
	Status     string `json:"status"`
	Remaining  int64  `json:"remaining"`
	// PerUserLimit is the most units one buyer may hold, so an app can
	// draw its quantity picker (v2).
	PerUserLimit int64 `json:"perUserLimit"`
	// Admission shows buyers only what their app needs to run the flow.
	Admission admissionJSON `json:"admission"`
}

type admissionJSON struct {
	PurchaseToken bool `json:"purchaseToken"`
	Challenge     bool `json:"challenge"`
}

// adminSaleJSON adds what only admins see.
type adminSaleJSON struct {
	saleJSON
	Stock                int64 `json:"stock"`
	PaymentWindowSeconds int64 `json:"paymentWindowSeconds"`
	Shards               int   `json:"shards"`
}

func saleView(v flashsale.SaleView) saleJSON {
	return saleJSON{
		SaleID: v.ID, Name: v.Name, PriceCents: v.PriceCents, Currency: v.Currency,
		StartsAt: flashsale.FormatTime(v.StartsAt), EndsAt: flashsale.FormatTime(v.EndsAt),
		Status: string(v.Status), Remaining: v.Remaining, PerUserLimit: v.PerUserLimit,
		Admission: admissionJSON{PurchaseToken: v.Admission.PurchaseToken, Challenge: v.Admission.Challenge()},
	}
}

func adminSaleView(v flashsale.SaleView) adminSaleJSON {
	return adminSaleJSON{
		saleJSON: saleView(v), Stock: v.Loaded,
		PaymentWindowSeconds: int64(v.PaymentWindow / time.Second), Shards: v.Shards,
	}
}

// NewSaleInfo serves GET /sales/{saleId}.
func NewSaleInfo(svc *flashsale.Service, log *slog.Logger) Func {
	return wrap(log, func(ctx context.Context, _ *slog.Logger, req events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
		// No 400 for a malformed id here: the contract answers this public
		// route 200 or 404, and no malformed id names a sale.
		v, err := svc.GetSale(ctx, req.PathParameters["saleId"])
		if err != nil {
			return events.APIGatewayProxyResponse{}, err
		}
		reportStock(v.ID, v.Remaining) // the dashboard's remaining stock, at most once a second
		return JSON(http.StatusOK, saleView(v)), nil
	})
}
