// The `origin` column of tags: repositories created before it existed are migrated — a tag the
// cache validated is an upstream tag, every other tag a pushed one.
import { env, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { repositoryStub } from "../../src/registry/repository-do";
import { migrateTagOrigin } from "../../src/registry/schema";

describe("migrateTagOrigin", () => {
  it("marks validated cache tags as upstream and the rest as pushed; running again changes nothing", async () => {
    const stub = repositoryStub(env, "migration/old-schema");
    const origins = await runInDurableObject(stub, (_instance, state) => {
      const sql = state.storage.sql;
      // The schema as it was: tags without origin.
      sql.exec("DROP TABLE tags");
      sql.exec("CREATE TABLE tags (tag TEXT PRIMARY KEY, digest TEXT NOT NULL, updated_at INTEGER NOT NULL)");
      sql.exec("INSERT INTO tags VALUES ('pushed', 'sha256:a', 1), ('cached', 'sha256:b', 2)");
      sql.exec("INSERT INTO cache_tags (tag, validated_at) VALUES ('cached', 2)");
      migrateTagOrigin(sql);
      migrateTagOrigin(sql);
      return sql.exec<{ tag: string; origin: string }>("SELECT tag, origin FROM tags ORDER BY tag").toArray();
    });
    expect(origins).toEqual([
      { tag: "cached", origin: "upstream" },
      { tag: "pushed", origin: "push" },
    ]);
    expect(await stub.cachedTag("pushed")).toBeNull();
    expect(await stub.cachedTag("cached")).toMatchObject({ digest: "sha256:b" });
  });
});
