// A real OpenID provider (npm `oidc-provider`) for the single sign-on tests.
//
//   node tests/sso/oidc_provider.mjs CONFIG.json
//
// CONFIG: {"client": {"client_id", "client_secret", "redirect_uris": [...]},
//          "users": {"<login>": {"password", "groups": [...], "amr": [...], "acr"?, "email"?,
//                                "name"?}},
//          "acr_values": [...]}
// Listens on a free loopback port and prints `issuer <URL>` once it accepts connections.
// The login page is this script's own: it checks the configured password and puts the user's
// `amr` / `acr` into the session, which the provider then signs into the ID token.
// `PUT /test-admin/users/<login>` with a JSON body replaces a user's entry (an IdP
// administrator moving someone between groups) so a test can sign in again with new claims.
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';

import Provider from 'oidc-provider';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const users = config.users;

const escape = (value) => String(value).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on('data', (chunk) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function loginPage(res, uid, message = '') {
  res.statusCode = message ? 401 : 200;
  res.setHeader('Content-Type', 'text/html; charset=utf-8');
  res.end(`<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Test IdP sign-in</title></head><body><main>
<h1>Test IdP</h1>${message ? `<p role="alert">${escape(message)}</p>` : ''}
<form method="post" action="/interaction/${escape(uid)}/login">
<label for="login">Username</label> <input id="login" name="login" autocomplete="username">
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password">
<button type="submit">Continue</button></form></main></body></html>`);
}

const server = http.createServer();
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: 'test-key-1', use: 'sig', alg: 'RS256' };

const provider = new Provider(issuer, {
  clients: [{
    ...config.client,
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  jwks: { keys: [signingKey] },
  cookies: { keys: ['test-cookie-key-not-secret'] },
  claims: {
    // How the person authenticated goes into every ID token, as enterprise IdPs do;
    // oidc-provider otherwise adds amr/acr only when the client asks for them by name.
    acr: null,
    sid: null,
    auth_time: null,
    iss: null,
    openid: ['sub', 'amr', 'acr', 'auth_time'],
    email: ['email', 'email_verified'],
    profile: ['name', 'given_name', 'family_name', 'preferred_username'],
    groups: ['groups'],
  },
  acrValues: config.acr_values || [],
  pkce: { required: () => true },
  features: { devInteractions: { enabled: false } },
  async findAccount(ctx, id) {
    const user = users[id];
    if (!user) return undefined;
    return {
      accountId: id,
      async claims() {
        return {
          sub: id,
          preferred_username: id,
          email: user.email || `${id}@idp.example`,
          email_verified: true,
          name: user.name || id,
          groups: user.groups || [],
        };
      },
    };
  },
  // The one client is the agency's own application: its scopes are granted without a
  // consent screen, as an enterprise IdP does for first-party apps.
  async loadExistingGrant(ctx) {
    const grantId = ctx.oidc.result?.consent?.grantId
      || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) {
      const existing = await ctx.oidc.provider.Grant.find(grantId);
      if (existing) return existing;
    }
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId,
      accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope([...ctx.oidc.requestParamScopes].join(' '));
    await grant.save();
    return grant;
  },
});

const handleProvider = provider.callback();

async function handleInteraction(req, res, parts) {
  const details = await provider.interactionDetails(req, res);
  const uid = parts[2];
  if (req.method === 'GET') {
    loginPage(res, uid);
    return;
  }
  const form = new URLSearchParams(await readBody(req));
  const login = form.get('login') || '';
  const user = users[login];
  if (!user || user.password !== form.get('password')) {
    loginPage(res, uid, 'Unknown user or wrong password.');
    return;
  }
  const result = { login: { accountId: login, amr: user.amr || ['pwd'] } };
  if (user.acr) result.login.acr = user.acr;
  if (details.prompt.name === 'consent') {
    result.consent = {};
  }
  await provider.interactionFinished(req, res, result, { mergeWithLastSubmission: false });
}

async function handleAdmin(req, res, login) {
  users[decodeURIComponent(login)] = JSON.parse(await readBody(req));
  res.statusCode = 204;
  res.end();
}

server.on('request', async (req, res) => {
  const parts = new URL(req.url, issuer).pathname.split('/');
  try {
    if (parts[1] === 'interaction') {
      await handleInteraction(req, res, parts);
    } else if (parts[1] === 'test-admin' && parts[2] === 'users' && req.method === 'PUT') {
      await handleAdmin(req, res, parts[3]);
    } else {
      handleProvider(req, res);
    }
  } catch (error) {
    res.statusCode = 500;
    res.end(String(error));
  }
});

process.on('SIGTERM', () => server.close(() => process.exit(0)));
process.stdout.write(`issuer ${issuer}\n`);
