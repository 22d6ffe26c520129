package outbound

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/triggerflow/triggerflow/internal/config"
	"github.com/triggerflow/triggerflow/internal/egress"
	"github.com/triggerflow/triggerflow/internal/failure"
)

// oauthEarly is how long before expiry a token is renewed, as oauth2.ReuseTokenSource
// does; a token that lives less than twice as long is renewed halfway through its life.
const oauthEarly = 10 * time.Second

// oauth2Fetcher obtains tokens from a token endpoint with one of three grants.
type oauth2Fetcher struct {
	server  string // servers.<name>
	path    string // servers.<name>.auth.oauth2
	cfg     config.OAuth2Auth
	client  *http.Client
	secrets *redactor

	clientSecret *secretSource // nil: a public client
	username     string
	password     *secretSource
	refresh      *secretSource

	// Used only by fetch, which tokenCache serialises.
	conf          *oauth2.Config            // password and refresh_token grants
	cc            *clientcredentials.Config // client_credentials grant
	issuedRefresh string                    // a refresh token the endpoint issued (kept in memory)
	sourceRefresh string                    // the configured refresh token when issuedRefresh was set
}

func newOAuth2Auth(path string, o config.OAuth2Auth, d authDeps) (*tokenAuth, error) {
	f := &oauth2Fetcher{server: d.server, path: path, cfg: o, client: d.client, secrets: d.secrets}
	var err error
	if o.ClientSecretRef().IsSet() {
		if f.clientSecret, err = newSecretSource(path+".client_secret", o.ClientSecretRef(), d.secrets); err != nil {
			return nil, err
		}
	}
	style := oauth2.AuthStyleAutoDetect // auto
	switch o.AuthStyle {
	case "header":
		style = oauth2.AuthStyleInHeader
	case "params":
		style = oauth2.AuthStyleInParams
	}
	switch o.Grant {
	case config.GrantClientCredentials:
		f.cc = &clientcredentials.Config{ClientID: o.ClientID, TokenURL: o.TokenURL, Scopes: o.Scopes, AuthStyle: style}
	case config.GrantPassword:
		if f.username, err = config.ResolveUser(path+".username", o.Username, o.UsernameEnv); err != nil {
			return nil, err
		}
		if f.password, err = newSecretSource(path+".password", o.PasswordRef(), d.secrets); err != nil {
			return nil, err
		}
	case config.GrantRefreshToken:
		if f.refresh, err = newSecretSource(path+".refresh_token", o.RefreshTokenRef(), d.secrets); err != nil {
			return nil, err
		}
	}
	if f.cc == nil {
		f.conf = &oauth2.Config{ClientID: o.ClientID, Scopes: o.Scopes,
			Endpoint: oauth2.Endpoint{TokenURL: o.TokenURL, AuthStyle: style}}
	}
	return &tokenAuth{header: "Authorization", cache: newTokenCache(f.fetch)}, nil
}

// fetch runs the grant once.
func (f *oauth2Fetcher) fetch(ctx context.Context) (token, time.Duration, error) {
	ctx = context.WithValue(ctx, oauth2.HTTPClient, f.client)
	secret := ""
	if f.clientSecret != nil {
		secret = f.clientSecret.get()
	}
	start := time.Now()
	var (
		tok *oauth2.Token
		err error
	)
	switch {
	case f.cc != nil:
		f.cc.ClientSecret = secret
		tok, err = f.cc.Token(ctx)
	case f.password != nil:
		f.conf.ClientSecret = secret
		tok, err = f.conf.PasswordCredentialsToken(ctx, f.username, f.password.get())
	default:
		f.conf.ClientSecret = secret
		tok, err = f.refreshGrant(ctx)
	}
	if err != nil {
		return token{}, 0, f.tokenError(err)
	}
	if tok.AccessToken == "" {
		return token{}, 0, fmt.Errorf("%s: token endpoint %s: %w in its answer", f.path, f.cfg.TokenURL, errNoToken)
	}
	f.secrets.add(tok.AccessToken, tok.RefreshToken)
	t := token{value: tok.AccessToken, scheme: tok.Type(), expiry: tok.Expiry}
	early := oauthEarly
	if !t.expiry.IsZero() {
		early = min(early, t.expiry.Sub(start)/2)
	}
	return t, early, nil
}

// refreshGrant uses the newest refresh token: one the endpoint issued, unless the
// configured one changed since (an operator put a new one in place).
func (f *oauth2Fetcher) refreshGrant(ctx context.Context) (*oauth2.Token, error) {
	configured := f.refresh.get()
	if configured != f.sourceRefresh {
		f.issuedRefresh, f.sourceRefresh = "", configured
	}
	rt := configured
	if f.issuedRefresh != "" {
		rt = f.issuedRefresh
	}
	tok, err := f.conf.TokenSource(ctx, &oauth2.Token{RefreshToken: rt}).Token()
	if err == nil && tok.RefreshToken != "" && tok.RefreshToken != rt {
		f.issuedRefresh = tok.RefreshToken
	}
	return tok, err
}

// tokenError classifies a failed grant: 5xx, 408, 429 and network errors are transient;
// other answers (400 invalid_grant, invalid_client, 401) are permanent. The message has
// the endpoint's error code and description, never a secret.
func (f *oauth2Fetcher) tokenError(err error) error {
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.Response == nil {
		switch {
		case egress.IsCertError(err):
			return failure.Permanent(fmt.Errorf("%s: token endpoint %s: certificate not trusted (set the CA in %s.tls.ca_file): %w",
				f.path, f.cfg.TokenURL, f.server, unwrapURLError(err)))
		case ctxErr(err):
			return fmt.Errorf("%s: token endpoint %s: %w", f.path, f.cfg.TokenURL, err)
		}
		return fmt.Errorf("%s: token endpoint %s: %s", f.path, f.cfg.TokenURL, egress.Snippet([]byte(unwrapURLError(err).Error()), f.secrets.list(), 300))
	}
	code := re.Response.StatusCode
	what := re.ErrorCode
	if re.ErrorDescription != "" {
		what += " (" + re.ErrorDescription + ")"
	}
	if what == "" {
		what = string(re.Body)
	}
	msg := fmt.Sprintf("%s: token endpoint %s answered %s: %s", f.path, f.cfg.TokenURL, re.Response.Status,
		egress.Snippet([]byte(what), f.secrets.list(), 300))
	if failure.TransientStatus(code) {
		return errors.New(msg)
	}
	return failure.Permanent(fmt.Errorf("%s; check %s", msg, f.path))
}
