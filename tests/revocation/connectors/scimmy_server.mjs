// A SCIM 2.0 service built on scimmy + scimmy-routers (npm), independent of scim2-server,
// for the connector tests. In-memory users; bearer token; listens on 127.0.0.1:PORT.
// Usage: node scimmy_server.mjs PORT TOKEN
// SCIMMY_QUIRKS (comma-separated) makes it answer as some services in the field do:
// - value-only: a PATCH operation naming a path is refused (400); the value form
//   {"op":"replace","value":{...}} is accepted.
// - absolute-endpoints: resource types announce "/scim/v2/Users" instead of "/Users".
// - no-total: user list responses leave out totalResults (django-scim2 0.23 did).
import {randomUUID} from "node:crypto";
import express from "express";
import SCIMMY from "scimmy";
import SCIMMYRouters from "scimmy-routers";

const [port, token] = process.argv.slice(2);
const users = new Map();
const quirks = new Set((process.env.SCIMMY_QUIRKS ?? "").split(",").filter(Boolean));

SCIMMY.Config.set({patch: true, filter: true, bulk: false});
SCIMMY.Resources.declare(SCIMMY.Resources.User)
    .ingress((resource, data) => {
        const id = resource.id ?? randomUUID();
        if (resource.id && !users.has(id)) throw new SCIMMY.Types.Error(404, null, `User ${id} not found`);
        const now = new Date();
        const user = {...data, id, meta: {created: users.get(id)?.meta?.created ?? now, lastModified: now}};
        users.set(id, user);
        return user;
    })
    .egress((resource) => {
        if (resource.id) {
            if (!users.has(resource.id)) throw new SCIMMY.Types.Error(404, null, `User ${resource.id} not found`);
            return users.get(resource.id);
        }
        const all = [...users.values()];
        return resource.filter ? resource.filter.match(all) : all;
    })
    .degress((resource) => {
        if (!users.delete(resource.id)) throw new SCIMMY.Types.Error(404, null, `User ${resource.id} not found`);
    });

const app = express();
app.use(express.json({type: ["application/json", "application/scim+json"]}));
app.use((req, res, next) => {
    const send = res.send.bind(res);
    const path = req.path;  // the routers below rewrite req.url
    res.send = (body) => {
        if (typeof body !== "string" || !body.startsWith("{")) return send(body);
        const payload = JSON.parse(body);
        if (quirks.has("no-total") && path.endsWith("/Users") && payload.schemas?.includes("urn:ietf:params:scim:api:messages:2.0:ListResponse")) {
            delete payload.totalResults;
        }
        if (quirks.has("absolute-endpoints")) {
            for (const type of [payload, ...(payload.Resources ?? [])]) {
                if (type.endpoint?.startsWith("/") && !type.endpoint.startsWith("/scim/v2/")) type.endpoint = `/scim/v2${type.endpoint}`;
            }
        }
        return send(JSON.stringify(payload));
    };
    next();
});
if (quirks.has("value-only")) {
    app.patch("/scim/v2/Users/:id", (req, res, next) => {
        if ((req.body?.Operations ?? []).some((op) => op.path !== undefined)) {
            res.status(400).type("application/scim+json").send(JSON.stringify({
                schemas: ["urn:ietf:params:scim:api:messages:2.0:Error"],
                status: "400", scimType: "noTarget", detail: "PATCH paths are not supported",
            }));
            return;
        }
        next();
    });
}
app.use("/scim/v2", new SCIMMYRouters({
    type: "bearer",
    handler: (request) => {
        if (request.header("Authorization") !== `Bearer ${token}`) throw new Error("Bad token");
        return "sundown";
    },
}));
app.listen(Number(port), "127.0.0.1");
