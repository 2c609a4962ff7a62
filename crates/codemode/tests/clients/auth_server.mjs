// A real OAuth 2 authorization server for the tests (npm `oauth2-mock-server`: RS256 keys, a
// JWKS, OIDC discovery, the authorization-code flow with PKCE), issuing access tokens for
// RESOURCE with the scope `codemode`; and a second one, another issuer with other keys.
//
// Usage: node auth_server.mjs RESOURCE [refuse-refresh]. With `refuse-refresh`, the first
// token it issues expires at once and every refresh is refused (`invalid_grant`).
// Prints one JSON line, then serves until killed:
// {"issuer", "tokens": {"good", "expired", "wrongAudience", "noScope", "otherIssuer",
// "tampered", "none"}}: tokens minted at start, each wrong in the one way its name says.

import { OAuth2Server } from "oauth2-mock-server";

const resource = process.argv[2];
const start = async () => {
  const server = new OAuth2Server();
  await server.issuer.keys.generate("RS256");
  await server.start(0, "127.0.0.1");
  return server;
};
const server = await start();
const other = await start();

// The tokens the authorization-code flow issues: for the resource asked for, with codemode's
// scope when the client asked for none.
server.service.on("beforeTokenSigning", (token, req) => {
  token.payload.aud = req.body?.resource ?? resource;
  if (!token.payload.scope || token.payload.scope === "dummy") token.payload.scope = "codemode";
});

if (process.argv[3] === "refuse-refresh") {
  let issued = 0;
  server.service.on("beforeResponse", (response, req) => {
    if (req.body?.grant_type === "refresh_token") {
      response.statusCode = 400;
      response.body = { error: "invalid_grant", error_description: "refresh is refused here" };
    } else if (req.body?.grant_type === "authorization_code" && issued++ === 0) {
      response.body.expires_in = 1;
    }
  });
}

const mint = (issuer, edit) =>
  issuer.issuer.buildToken({
    scopesOrTransform: (_header, payload) => {
      payload.sub = "ada";
      payload.aud = resource;
      payload.scope = "codemode";
      edit?.(payload);
    },
  });
const b64 = (value) => Buffer.from(JSON.stringify(value)).toString("base64url");
const good = await mint(server);
const [head, body, signature] = good.split(".");
const claims = JSON.parse(Buffer.from(body, "base64url").toString());
const tokens = {
  good,
  expired: await mint(server, (p) => {
    p.iat = p.iat - 7200;
    p.exp = Math.floor(Date.now() / 1000) - 3600;
  }),
  wrongAudience: await mint(server, (p) => {
    p.aud = "https://somewhere-else.example/mcp";
  }),
  noScope: await mint(server, (p) => {
    p.scope = "profile";
  }),
  otherIssuer: await mint(other),
  // The payload changed after signing: a subject of someone else's.
  tampered: `${head}.${b64({ ...claims, sub: "mallory" })}.${signature}`,
  none: `${b64({ alg: "none", typ: "JWT" })}.${b64(claims)}.`,
};
console.log(JSON.stringify({ issuer: server.issuer.url, tokens }));
