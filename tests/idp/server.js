// A real OpenID provider for the sign-in tests: panva's oidc-provider (OpenID Certified) on
// loopback, with the clients and accounts the test gives in IDP_CONFIG (JSON):
//   {"port": 9000, "clients": [{client_id, client_secret, redirect_uris}],
//    (each client's post-logout redirect URI is /login/ on its redirect URIs' hosts)
//    "accounts": {"carol": {"password": "...", "email": "...", "groups": [...], "amr": [...]}}}
// The sign-in page is a plain HTML form (login, password); consent is given at once, as a
// company's own provider does for its own applications. POST /test/accounts/<id> (JSON)
// changes an account's claims, so a test can move a person between groups.
import http from 'node:http';
import crypto from 'node:crypto';
import Provider from 'oidc-provider';

const config = JSON.parse(process.env.IDP_CONFIG);
const issuer = `http://127.0.0.1:${config.port}`;
const accounts = config.accounts;

const escape = (text) => String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const provider = new Provider(issuer, {
  clients: config.clients.map((client) => ({
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
    // Where the portal sends people back once they sign out here too: its sign-in page.
    post_logout_redirect_uris: client.redirect_uris.map((uri) => new URL('/login/', uri).href),
    ...client,
  })),
  pkce: { required: () => true },
  scopes: ['openid', 'email', 'profile', 'groups'],
  claims: {
    // How and when the person signed in, in every ID token (a company's Okta sends amr).
    openid: ['sub', 'amr', 'auth_time'],
    email: ['email', 'email_verified'],
    profile: ['name', 'given_name', 'family_name'],
    // hasgroups: Entra ID's sign that the groups were too many for the token (overage).
    groups: ['groups', 'hasgroups'],
  },
  // E-mail and groups in the ID token too, as Okta and Entra ID send them.
  conformIdTokenClaims: false,
  cookies: { keys: [crypto.randomBytes(32).toString('hex')] },
  features: { devInteractions: { enabled: false }, rpInitiatedLogout: { enabled: true } },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  async findAccount(ctx, id) {
    const account = accounts[id];
    if (!account) return undefined;
    return {
      accountId: id,
      async claims() {
        const { password, amr, ...claims } = accounts[id];
        return { sub: id, email_verified: true, ...claims };
      },
    };
  },
});
provider.proxy = false;

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on('data', (chunk) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks).toString()));
    req.on('error', reject);
  });
}

function page(res, status, html) {
  res.writeHead(status, { 'Content-Type': 'text/html; charset=utf-8' });
  res.end(`<!doctype html><html><body>${html}</body></html>`);
}

async function interaction(req, res, uid) {
  const details = await provider.interactionDetails(req, res);
  if (details.prompt.name === 'consent') {
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: details.session.accountId, clientId: details.params.client_id });
    const missing = details.prompt.details;
    if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
    if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
    const grantId = await grant.save();
    return provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
  }
  if (req.method === 'POST') {
    const form = new URLSearchParams(await readBody(req));
    const id = form.get('login');
    const account = accounts[id];
    if (account && account.password === form.get('password')) {
      return provider.interactionFinished(
        req,
        res,
        { login: { accountId: id, amr: account.amr || ['pwd'] } },
        { mergeWithLastSubmission: false },
      );
    }
    return page(res, 401, '<p id="error">Wrong login or password.</p>');
  }
  return page(
    res,
    200,
    `<h1>Sign in to the company</h1>
     <form method="post" action="/interaction/${escape(uid)}">
       <input name="login" autocomplete="username"><input name="password" type="password">
       <button type="submit">Sign in</button>
     </form>`,
  );
}

const oidc = provider.callback();
const server = http.createServer(async (req, res) => {
  try {
    const url = new URL(req.url, issuer);
    const match = url.pathname.match(/^\/interaction\/([\w-]+)$/);
    if (match) return await interaction(req, res, match[1]);
    const change = url.pathname.match(/^\/test\/accounts\/([\w@.-]+)$/);
    if (change && req.method === 'POST') {
      accounts[change[1]] = { ...accounts[change[1]], ...JSON.parse(await readBody(req)) };
      res.writeHead(204);
      return res.end();
    }
    return oidc(req, res);
  } catch (error) {
    page(res, 500, `<p>${escape(error.message)}</p>`);
  }
});
server.listen(config.port, '127.0.0.1', () => console.log(`listening on ${issuer}`));
