// A real OpenID provider on loopback for tests/test_oidc.py: the OpenID-certified
// `oidc-provider` with one confidential client, PKCE required, and people whose claims
// (email, email_verified, groups) the test sets.
//
// Settings come as JSON in OIDC_TEST_PROVIDER: {port, client_id, client_secret,
// redirect_uris, accounts: {sub: {email, email_verified, name, groups}}}.
//
// Sign-in uses the package's development interactions (POST prompt=login&login=<sub> to
// /interaction/<uid>); consent is granted at once, as for a first-party client. Two
// test-only endpoints let a test change what the provider answers:
//   PUT  /test/accounts/<sub>   the claims of one person (JSON), added or replaced
//   POST /test/tamper           {"claims": {...}} changes the next token response's ID
//                               token payload without signing it again (a forged token),
//                               or {"claims": {...}, "resign": true} signs it again with
//                               the provider's own key (a real but wrongly issued token)
// Prints "listening <issuer>" once it answers.
import { generateKeyPairSync, sign } from 'node:crypto';

import Provider from 'oidc-provider';

const settings = JSON.parse(process.env.OIDC_TEST_PROVIDER);
const issuer = `http://127.0.0.1:${settings.port}`;
const accounts = new Map(Object.entries(settings.accounts));
let tamper = null;

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: 'test-key', alg: 'RS256', use: 'sig' };

const provider = new Provider(issuer, {
  clients: [{
    client_id: settings.client_id,
    client_secret: settings.client_secret,
    redirect_uris: settings.redirect_uris,
    grant_types: ['authorization_code'],
    response_types: ['code'],
  }],
  jwks: { keys: [signingKey] },
  cookies: { keys: ['test-provider-cookie-key'] },
  pkce: { required: () => true },
  scopes: ['openid', 'email', 'profile', 'groups'],
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'], groups: ['groups'] },
  // The ID token carries the scopes' claims, as Okta, Keycloak and Google issue it.
  conformIdTokenClaims: false,
  features: { devInteractions: { enabled: true } },
  async findAccount(ctx, sub) {
    if (!accounts.has(sub)) return undefined;
    return { accountId: sub, async claims() { return { sub, ...accounts.get(sub) }; } };
  },
  async loadExistingGrant(ctx) {
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope('openid email profile groups');
    await grant.save();
    return grant;
  },
});

function tamperWith(body) {
  const [header, payload, signature] = body.id_token.split('.');
  const claims = { ...JSON.parse(Buffer.from(payload, 'base64url')), ...tamper.claims };
  const changed = `${header}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`;
  // RS256 is RSASSA-PKCS1-v1_5 with SHA-256: what node:crypto's sign does with an RSA key.
  const resigned = () => sign('sha256', Buffer.from(changed), privateKey).toString('base64url');
  body.id_token = `${changed}.${tamper.resign ? resigned() : signature}`;
}

async function readJson(ctx) {
  let text = '';
  for await (const chunk of ctx.req) text += chunk;
  return JSON.parse(text);
}

provider.use(async (ctx, next) => {
  if (ctx.path.startsWith('/test/accounts/') && ctx.method === 'PUT') {
    accounts.set(decodeURIComponent(ctx.path.slice('/test/accounts/'.length)), await readJson(ctx));
    ctx.status = 204;
    return;
  }
  if (ctx.path === '/test/tamper' && ctx.method === 'POST') {
    tamper = await readJson(ctx);
    ctx.status = 204;
    return;
  }
  await next();
  if (ctx.path === '/token' && tamper && ctx.body?.id_token) {
    tamperWith(ctx.body);
    tamper = null;
  }
});

provider.listen(settings.port, '127.0.0.1', () => console.log(`listening ${issuer}`));
