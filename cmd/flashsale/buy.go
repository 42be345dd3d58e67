package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"flashsale/shared/admission"
	"flashsale/shared/client"
	"flashsale/shared/local/devauth"
)

func init() {
	rootCmd.AddCommand(newBuyCmd())
	rootCmd.AddCommand(newSolveCmd())
}

// buyOptions are the flags of `flashsale buy`.
type buyOptions struct {
	state, target string
	sale, user    string
	groups        []string
	quantity      int64
}

func newBuyCmd() *cobra.Command {
	var o buyOptions
	cmd := &cobra.Command{
		Use:   "buy",
		Short: "Buy from a sale on the local stack as one buyer, through the whole admission flow",
		Long: `buy plays one buyer with the reference client (shared/client): it reads the
sale, and when the sale asks for a purchase token it fetches the challenge,
solves it, gets the token, then orders with the token and a fresh
Idempotency-Key, and prints the receipt. It mints the buyer's JWT and uses
the API key from the local stack's state folder.

  flashsale buy --sale demo --user alice
  flashsale buy --sale demo --user alice --quantity 2 --group member`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runBuy(cmd.Context(), o, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	stateFlag(f.StringVar, &o.state)
	targetFlag(f.StringVar, &o.target)
	f.StringVar(&o.sale, "sale", "", "sale id")
	f.StringVar(&o.user, "user", "", "buyer's user id (the JWT's sub)")
	f.StringArrayVar(&o.groups, "group", nil, "cognito:groups entry of the buyer; repeat for several")
	f.Int64Var(&o.quantity, "quantity", 1, "units to buy")
	_ = cmd.MarkFlagRequired("sale")
	_ = cmd.MarkFlagRequired("user")
	return cmd
}

func runBuy(ctx context.Context, o buyOptions, stdout, stderr io.Writer) error {
	if o.quantity < 1 {
		return fmt.Errorf("--quantity %d: want at least 1", o.quantity)
	}
	api, err := openAPI(o.state, o.target)
	if err != nil {
		return err
	}
	jwt, err := api.issuer.Token(devauth.TokenRequest{UserID: o.user, Groups: o.groups, TTL: 15 * time.Minute})
	if err != nil {
		return err
	}
	c := &client.Client{BaseURL: api.url, Token: jwt, APIKey: api.issuer.APIKey(), HTTP: &http.Client{Timeout: time.Minute}}
	sale, err := c.Sale(ctx, o.sale)
	if err != nil {
		return explain(fmt.Sprintf("read sale %s", o.sale), err)
	}
	step := func(format string, args ...any) { fmt.Fprintf(stderr, format+"\n", args...) }
	step("sale %s (%s): %s, %d remaining", sale.SaleID, sale.Name, sale.Status, sale.Remaining)
	if sale.NeedsToken() {
		start := time.Now()
		tok, err := c.NewPurchaseToken(ctx, o.sale)
		if err != nil {
			return explain("purchase token", err)
		}
		how := "no challenge"
		if sale.Admission.Challenge {
			how = "challenge solved"
		}
		step("purchase token: %s in %s, good until %s", how, time.Since(start).Round(time.Millisecond), tok.ExpiresAt.UTC().Format(time.RFC3339))
	}
	p, err := c.Buy(ctx, o.sale, o.quantity)
	if err != nil {
		return explain("order", err)
	}
	if p.Replayed {
		step("the first answer was lost; the resend was replayed")
	}
	if p.Recovered {
		step("the answer was lost; the order was found in my-orders")
	}
	b, err := json.MarshalIndent(p.Order, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "%s\n", b)
	return err
}

// explain turns a client error into one line that says what was refused.
func explain(what string, err error) error {
	if e, ok := errors.AsType[*client.APIError](err); ok {
		return fmt.Errorf("%s: the gateway answered %s", what, e)
	}
	return fmt.Errorf("%s: %w", what, err)
}

func newSolveCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "solve",
		Short: "Solve a proof-of-work challenge read from stdin and print the number",
		Long: `solve reads a challenge as GET /sales/{id}/challenge answers it (ALTCHA v1 JSON)
on stdin and prints the number that solves it, for scripts:

  curl -s -H "Authorization: $JWT" -H "x-api-key: $KEY" $URL/sales/demo/challenge > challenge.json
  n=$(flashsale solve < challenge.json)
  curl -s ... -d "{\"challenge\":$(cat challenge.json),\"number\":$n}" $URL/sales/demo/purchase-tokens`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runSolve(cmd.Context(), cmd.InOrStdin(), cmd.OutOrStdout())
		},
	}
}

func runSolve(ctx context.Context, in io.Reader, out io.Writer) error {
	raw, err := io.ReadAll(io.LimitReader(in, 64*1024))
	if err != nil {
		return fmt.Errorf("read challenge: %w", err)
	}
	var c admission.Challenge
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return fmt.Errorf("read challenge: want the JSON of GET /sales/{id}/challenge: %w", err)
	}
	n, err := admission.Solve(ctx, c)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(out, n)
	return err
}
