// A token server for a test registry (the Docker registry token
// protocol): GET /token?service=...&scope=repository:NAME:ACTIONS answers
// {"token": JWT} with an RS256 JWT whose x5c header carries the signing
// certificate, which the test CA issued, so the registry can check it
// against its rootcertbundle. Anonymous callers get pull only; the one
// account named in TOKEN_USERNAME/TOKEN_PASSWORD gets everything it asks
// for; any other credentials get 401.
//
// Usage: TOKEN_USERNAME=... TOKEN_PASSWORD=... node token-server.js \
//            PORT KEY.pem CERT.pem ISSUER SERVICE
"use strict";

const crypto = require("crypto");
const fs = require("fs");
const http = require("http");

const [port, keyFile, certFile, issuer, service] = process.argv.slice(2);
const username = process.env.TOKEN_USERNAME || "";
const password = process.env.TOKEN_PASSWORD || "";
const signingKey = fs.readFileSync(keyFile, "utf8");
const lifetimeSeconds = 300;

// x5c holds standard base64 DER certificates, leaf first (RFC 7515 4.1.6).
function certificateChain(file) {
    const pem = fs.readFileSync(file, "utf8");
    const blocks = pem.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) || [];
    return blocks.map((block) => block.replace(/-----[A-Z ]+-----|\s/g, ""));
}
const chain = certificateChain(certFile);

function base64url(data) {
    return Buffer.from(data).toString("base64url");
}

function sign(claims) {
    const header = { typ: "JWT", alg: "RS256", x5c: chain };
    const input = base64url(JSON.stringify(header)) + "." + base64url(JSON.stringify(claims));
    const signature = crypto.createSign("RSA-SHA256").update(input).sign(signingKey);
    return input + "." + base64url(signature);
}

// "anonymous", "pusher", or null for credentials that do not match.
function caller(request) {
    const header = request.headers.authorization;
    if (!header)
        return "anonymous";
    const match = /^Basic\s+(\S+)$/i.exec(header);
    if (!match)
        return null;
    const decoded = Buffer.from(match[1], "base64").toString("utf8");
    const colon = decoded.indexOf(":");
    if (colon < 0)
        return null;
    const ok = decoded.slice(0, colon) === username && decoded.slice(colon + 1) === password;
    return ok && username !== "" ? "pusher" : null;
}

// Grants from "repository:NAME:a,b" scopes: pull for anyone, more for the pusher.
function grants(scopes, who) {
    const access = [];
    for (const scope of scopes) {
        const match = /^repository:([^:]+):([a-z*,]+)$/.exec(scope);
        if (!match)
            continue;
        const wanted = match[2].split(",");
        const actions = who === "pusher" ? wanted : wanted.filter((action) => action === "pull");
        access.push({ type: "repository", name: match[1], actions });
    }
    return access;
}

function answer(response, status, body) {
    response.writeHead(status, { "Content-Type": "application/json" });
    response.end(JSON.stringify(body));
}

function handle(request, response) {
    const url = new URL(request.url, "http://localhost");
    if (request.method !== "GET" || url.pathname !== "/token")
        return answer(response, 404, { error: "not found" });
    const who = caller(request);
    if (!who) {
        response.setHeader("WWW-Authenticate", 'Basic realm="test-token-server"');
        return answer(response, 401, { error: "wrong credentials" });
    }
    if (url.searchParams.get("service") !== service)
        return answer(response, 400, { error: "unknown service" });

    const now = Math.floor(Date.now() / 1000);
    const token = sign({
        iss: issuer,
        sub: who,
        aud: service,
        exp: now + lifetimeSeconds,
        nbf: now - 10,
        iat: now,
        jti: crypto.randomBytes(16).toString("hex"),
        access: grants(url.searchParams.getAll("scope"), who),
    });
    answer(response, 200, { token, expires_in: lifetimeSeconds, issued_at: new Date(now * 1000).toISOString() });
}

http.createServer(handle).listen(Number(port), "127.0.0.1");
