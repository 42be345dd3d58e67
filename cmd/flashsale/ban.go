package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"flashsale/shared/apispec"
	"flashsale/shared/awsclient"
	"flashsale/shared/client"
	"flashsale/shared/dynamostore"
	"flashsale/shared/flashsale"
)

func init() { rootCmd.AddCommand(newBanCmd()) }

// Environment fallbacks of `flashsale ban --stage`.
const (
	envAPIURL     = "FLASHSALE_API_URL"
	envAdminToken = "FLASHSALE_ADMIN_TOKEN"
)

// banOptions are the flags every `flashsale ban` command shares.
type banOptions struct {
	state string
	// stage, api and token select a deployed API (the admin routes with an
	// admin token); without --stage the command works on the local stack's
	// store directly, so an operator who banned their own loopback address
	// can still lift the ban.
	stage, api, token string
}

func newBanCmd() *cobra.Command {
	var o banOptions
	cmd := &cobra.Command{
		Use:   "ban",
		Short: "Ban or unban an IP address (or range) or a user, on the local stack or a deployed stage",
		Long: `Bans take effect within 5 s on the local stack (the gateway rereads them)
and within seconds to a minute deployed (the WAF IP sets; see docs/deploy.md).

Without --stage the commands work on the local stack's store directly, so
they still work after you banned your own address. With --stage they call
the deployed admin API: --api (or $` + envAPIURL + `) is the stage's base URL
and --token (or $` + envAdminToken + `) an admin's Cognito ID token.

  flashsale ban ip add --cidr 203.0.113.7 --ttl 1h --reason "card testing"
  flashsale ban ip list
  flashsale ban ip remove 203.0.113.7          # a ban id works too
  flashsale ban user add --user u-123 --reason scalper
  flashsale ban user remove u-123
  flashsale ban ip list --stage prod --api https://abc.execute-api.eu-west-1.amazonaws.com/prod`,
	}
	f := cmd.PersistentFlags()
	stateFlag(f.StringVar, &o.state)
	f.StringVar(&o.stage, "stage", "", "a deployed stage (dev or prod) instead of the local stack")
	f.StringVar(&o.api, "api", "", "with --stage: the stage's base URL (default $"+envAPIURL+")")
	f.StringVar(&o.token, "token", "", "with --stage: an admin's ID token (default $"+envAdminToken+")")
	cmd.AddCommand(newBanIPCmd(&o), newBanUserCmd(&o))
	return cmd
}

func newBanIPCmd(o *banOptions) *cobra.Command {
	cmd := &cobra.Command{Use: "ip", Short: "Ban addresses or CIDR ranges from every route"}
	var cidr, reason string
	var ttl time.Duration
	add := &cobra.Command{
		Use: "add", Short: "Ban an address or range (banning it again refreshes the ban)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b, err := o.open(cmd.Context())
			if err != nil {
				return err
			}
			secs := int64(ttl / time.Second)
			ban, err := b.banIP(cmd.Context(), cidr, secs, reason)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "banned %s until %s (id %s)\n", ban.CIDR, ban.ExpiresAt, ban.BanID)
			return nil
		},
	}
	add.Flags().StringVar(&cidr, "cidr", "", "address or CIDR range; a bare address means /32 (or /128)")
	add.Flags().DurationVar(&ttl, "ttl", time.Hour, "how long the ban lasts (1s to 720h)")
	add.Flags().StringVar(&reason, "reason", "", "why, for the next operator (at most 200 characters)")
	_ = add.MarkFlagRequired("cidr")
	list := &cobra.Command{
		Use: "list", Short: "List the IP bans in force", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b, err := o.open(cmd.Context())
			if err != nil {
				return err
			}
			bans, err := b.ipBans(cmd.Context())
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "BAN ID\tCIDR\tEXPIRES AT\tREASON")
			for _, ban := range bans {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", ban.BanID, ban.CIDR, ban.ExpiresAt, ban.Reason)
			}
			return w.Flush()
		},
	}
	remove := &cobra.Command{
		Use: "remove <ban id or cidr>", Short: "Lift an IP ban", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id := args[0]
			if !strings.HasPrefix(id, "ipb-") {
				p, err := flashsale.ParseCIDR(id)
				if err != nil {
					return fmt.Errorf("%q is neither a ban id (ipb-…) nor an address or range: %w", id, err)
				}
				id = flashsale.IPBanID(p)
			}
			b, err := o.open(cmd.Context())
			if err != nil {
				return err
			}
			if err := b.unbanIP(cmd.Context(), id); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "lifted IP ban %s\n", id)
			return nil
		},
	}
	cmd.AddCommand(add, list, remove)
	return cmd
}

func newBanUserCmd(o *banOptions) *cobra.Command {
	cmd := &cobra.Command{Use: "user", Short: "Ban users from purchase tokens and orders"}
	var user, reason string
	var ttl time.Duration
	add := &cobra.Command{
		Use: "add", Short: "Ban a user (banning again refreshes the ban)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b, err := o.open(cmd.Context())
			if err != nil {
				return err
			}
			ban, err := b.banUser(cmd.Context(), user, int64(ttl/time.Second), reason)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "banned user %s until %s\n", ban.UserID, ban.ExpiresAt)
			return nil
		},
	}
	add.Flags().StringVar(&user, "user", "", "the user id (Cognito sub)")
	add.Flags().DurationVar(&ttl, "ttl", flashsale.DefaultUserBanTTL, "how long the ban lasts (1s to 720h)")
	add.Flags().StringVar(&reason, "reason", "", "why, for the next operator (at most 200 characters)")
	_ = add.MarkFlagRequired("user")
	list := &cobra.Command{
		Use: "list", Short: "List the user bans in force", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b, err := o.open(cmd.Context())
			if err != nil {
				return err
			}
			bans, err := b.userBans(cmd.Context())
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "USER\tEXPIRES AT\tREASON")
			for _, ban := range bans {
				fmt.Fprintf(w, "%s\t%s\t%s\n", ban.UserID, ban.ExpiresAt, ban.Reason)
			}
			return w.Flush()
		},
	}
	remove := &cobra.Command{
		Use: "remove <user>", Short: "Lift a user ban", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := o.open(cmd.Context())
			if err != nil {
				return err
			}
			if err := b.unbanUser(cmd.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "lifted the ban of user %s\n", args[0])
			return nil
		},
	}
	cmd.AddCommand(add, list, remove)
	return cmd
}

// Bans as the admin API shows them; the local backend answers the same.
type ipBanView struct {
	BanID     string `json:"banId"`
	CIDR      string `json:"cidr"`
	ExpiresAt string `json:"expiresAt"`
	Reason    string `json:"reason"`
}

type userBanView struct {
	UserID    string `json:"userId"`
	ExpiresAt string `json:"expiresAt"`
	Reason    string `json:"reason"`
}

// banBackend is where the ban commands act: the local store, or a deployed
// admin API.
type banBackend interface {
	banIP(ctx context.Context, cidr string, ttlSeconds int64, reason string) (ipBanView, error)
	ipBans(ctx context.Context) ([]ipBanView, error)
	unbanIP(ctx context.Context, banID string) error
	banUser(ctx context.Context, userID string, ttlSeconds int64, reason string) (userBanView, error)
	userBans(ctx context.Context) ([]userBanView, error)
	unbanUser(ctx context.Context, userID string) error
}

func (o *banOptions) open(ctx context.Context) (banBackend, error) {
	if o.stage == "" {
		if o.api != "" || o.token != "" {
			return nil, errors.New("--api and --token need --stage (without it, bans go to the local stack)")
		}
		return openLocalBans(ctx, o.state)
	}
	if _, err := apispec.LimitsFor(o.stage); err != nil {
		return nil, err
	}
	api, token := o.api, o.token
	if api == "" {
		api = os.Getenv(envAPIURL)
	}
	if token == "" {
		token = os.Getenv(envAdminToken)
	}
	if api == "" || token == "" {
		return nil, fmt.Errorf("--stage %s needs the API's URL (--api or $%s) and an admin token (--token or $%s)", o.stage, envAPIURL, envAdminToken)
	}
	return &remoteBans{url: strings.TrimRight(api, "/"), token: token, http: &http.Client{Timeout: 30 * time.Second}}, nil
}

// localBans works on the running local stack's store, through the same
// service the admin function uses.
type localBans struct{ svc *flashsale.Service }

func openLocalBans(ctx context.Context, state string) (*localBans, error) {
	info, err := readStack(state)
	if err != nil {
		return nil, err
	}
	cfg, err := awsclient.LoadConfig(ctx, info.Settings)
	if err != nil {
		return nil, err
	}
	store := dynamostore.New(awsclient.DynamoDB(cfg, info.Settings), info.Settings.SalesTable, info.Settings.OrdersTable)
	return &localBans{svc: flashsale.NewService(store, nil)}, nil
}

func (l *localBans) banIP(ctx context.Context, cidr string, ttl int64, reason string) (ipBanView, error) {
	b, err := l.svc.BanIP(ctx, cidr, &ttl, reason)
	return ipBanView{BanID: b.ID, CIDR: b.CIDR.String(), ExpiresAt: flashsale.FormatTime(b.ExpiresAt), Reason: b.Reason}, err
}

func (l *localBans) ipBans(ctx context.Context) ([]ipBanView, error) {
	bans, err := l.svc.IPBans(ctx)
	out := make([]ipBanView, len(bans))
	for i, b := range bans {
		out[i] = ipBanView{BanID: b.ID, CIDR: b.CIDR.String(), ExpiresAt: flashsale.FormatTime(b.ExpiresAt), Reason: b.Reason}
	}
	return out, err
}

func (l *localBans) unbanIP(ctx context.Context, id string) error { return l.svc.UnbanIP(ctx, id) }

func (l *localBans) banUser(ctx context.Context, user string, ttl int64, reason string) (userBanView, error) {
	b, err := l.svc.BanUser(ctx, user, &ttl, reason)
	return userBanView{UserID: b.UserID, ExpiresAt: flashsale.FormatTime(b.ExpiresAt), Reason: b.Reason}, err
}

func (l *localBans) userBans(ctx context.Context) ([]userBanView, error) {
	bans, err := l.svc.UserBans(ctx)
	out := make([]userBanView, len(bans))
	for i, b := range bans {
		out[i] = userBanView{UserID: b.UserID, ExpiresAt: flashsale.FormatTime(b.ExpiresAt), Reason: b.Reason}
	}
	return out, err
}

func (l *localBans) unbanUser(ctx context.Context, user string) error {
	return l.svc.UnbanUser(ctx, user)
}

// remoteBans calls a deployed stage's admin routes.
type remoteBans struct {
	url, token string
	http       *http.Client
}

// call sends one admin request and decodes a 2xx answer into out; any other
// answer is a *client.APIError.
func (r *remoteBans) call(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, r.url+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+r.token)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := r.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, r.url+path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		return client.DecodeError(resp.StatusCode, raw)
	}
	if out != nil {
		return json.Unmarshal(raw, out)
	}
	return nil
}

func (r *remoteBans) banIP(ctx context.Context, cidr string, ttl int64, reason string) (ipBanView, error) {
	var b ipBanView
	err := r.call(ctx, http.MethodPost, "/admin/ip-bans", map[string]any{"cidr": cidr, "ttlSeconds": ttl, "reason": reason}, &b)
	return b, err
}

func (r *remoteBans) ipBans(ctx context.Context) ([]ipBanView, error) {
	var out struct{ Bans []ipBanView }
	err := r.call(ctx, http.MethodGet, "/admin/ip-bans", nil, &out)
	return out.Bans, err
}

func (r *remoteBans) unbanIP(ctx context.Context, id string) error {
	return r.call(ctx, http.MethodDelete, "/admin/ip-bans/"+url.PathEscape(id), nil, nil)
}

func (r *remoteBans) banUser(ctx context.Context, user string, ttl int64, reason string) (userBanView, error) {
	var b userBanView
	err := r.call(ctx, http.MethodPost, "/admin/user-bans", map[string]any{"userId": user, "ttlSeconds": ttl, "reason": reason}, &b)
	return b, err
}

func (r *remoteBans) userBans(ctx context.Context) ([]userBanView, error) {
	var out struct{ Bans []userBanView }
	err := r.call(ctx, http.MethodGet, "/admin/user-bans", nil, &out)
	return out.Bans, err
}

func (r *remoteBans) unbanUser(ctx context.Context, user string) error {
	return r.call(ctx, http.MethodDelete, "/admin/user-bans/"+url.PathEscape(user), nil, nil)
}
