"""The catalog: a turn's catalog read latency at 1,000, 10,000 and 100,000 items, and catalog_import throughput.

For each size the bench writes a JSON Lines file of that many synthetic items (Korean and English names and tags,
25 areas, allergens and diets at realistic rates, one restaurant in four with its allergens not declared, each dish
linked to its restaurant, KRW prices), imports it with `customers.services.catalog_import`
(rows/s over the whole file: both passes, validation and writes), runs VACUUM ANALYZE (as autovacuum soon would:
it also merges the GIN indexes' pending entries), then times `customers.services.catalog_turn_read` (the candidates,
the names to avoid and the recent ratings: what a chat turn reads) for the demo customers over a mix of Korean and
English requests (with and without an area, after a warm-up). Targets: p95 under 10 ms at 10,000 items and under
30 ms at 100,000; import at least 5,000 rows/s. The bench's items are deleted at the end (the demo catalog stays).

Run alone with `.venv/bin/python -m bench.catalog`; it writes bench/results/catalog.json.
"""

from __future__ import annotations

import dataclasses
import json
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import common

SIZES = (1_000, 10_000, 100_000)
CALLS = 300
WARM_UP = 30
TARGET_P95_MS = {10_000: 10.0, 100_000: 30.0}
TARGET_IMPORT_ROWS_PER_SECOND = 5_000
REQUESTS = (
    "Something spicy and Korean in Mapo, please",
    "마포에서 매운 한식 먹고 싶어",
    "live jazz tonight",
    "재즈바 추천해줘",
    "vegan lunch in Gangnam",
    "해운대에서 야경 보고 싶어",
    "cheap noodles",
    "떡볶이",
    "board games or yoga this weekend",
    "뭐 하지?",
)
AREAS = [f"Seoul, {gu}-gu" for gu in (
    "Mapo", "Gangnam", "Jongno", "Jung", "Yongsan", "Seongdong", "Gwangjin", "Dongdaemun", "Jungnang", "Seongbuk",
    "Gangbuk", "Dobong", "Nowon", "Eunpyeong", "Seodaemun", "Yangcheon", "Gangseo", "Guro", "Geumcheon",
    "Yeongdeungpo", "Dongjak", "Gwanak", "Seocho", "Songpa",
)] + ["Busan, Haeundae-gu"]  # fmt: skip
TAGS = (
    ("korean", "한식"), ("spicy", "매운맛"), ("noodles", "국수"), ("soup", "국밥"), ("grilled meat", "구이"),
    ("cafe", "카페"), ("dessert", "디저트"), ("jazz", "재즈"), ("bar", "바"), ("vegan", "비건"), ("seafood", "해산물"),
    ("chinese", "중식"), ("japanese", "일식"), ("street food", "분식"), ("hiking", "하이킹"), ("walk", "산책"),
    ("yoga", "요가"), ("board games", "보드게임"), ("night view", "야경"), ("market", "시장"), ("brunch", "브런치"),
    ("chicken", "치킨"), ("bakery", "베이커리"), ("live music", "라이브"), ("healthy", "건강식"),
)  # fmt: skip
DISHES = ("떡볶이", "비빔밥", "김치찌개", "냉면", "짬뽕", "돼지국밥", "삼겹살", "칼국수", "파전", "닭갈비", "커피")
ALLERGENS = ("wheat", "soy", "egg", "milk", "sesame", "pork", "beef", "chicken", "fish", "crustacean", "mollusc",
             "peanut", "tree_nut", "buckwheat")  # fmt: skip
KINDS = ("restaurant", "dish", "dish", "dish", "product", "activity", "place")


def synthetic_item(n: int, rng: random.Random) -> dict[str, Any]:
    kind = KINDS[n % len(KINDS)]
    tags = [word for pair in rng.sample(TAGS, rng.randint(2, 4)) for word in pair]
    dish = DISHES[n % len(DISHES)]
    item: dict[str, Any] = {
        "external_id": f"bench-{n // 4:06d}:{n % 4}",
        "kind": kind,
        "name": f"{dish} {n} ({tags[0]} {kind})",
        "description": f"{tags[1]} {dish} 전문, {' '.join(tags[2:])}. A synthetic item for the benchmark.",
        "area": rng.choice(AREAS),
        "price": rng.choice((0, 3_000, 8_000, 12_000, 15_000, 25_000, 40_000, 90_000, 250_000)),
        "tags": tags,
        "allergens": rng.sample(ALLERGENS, rng.choice((0, 1, 2, 2, 3, 4))),
        "diets": ["vegan", "vegetarian"] if "vegan" in tags else rng.choice(([], [], ["vegetarian"], ["halal"])),
    }
    if kind == "product":
        item["food"] = rng.random() < 0.5
    if kind == "dish":  # served by the restaurant generated just before it (KINDS starts with one)
        venue = n - n % len(KINDS)
        item["venue"] = f"bench-{venue // 4:06d}:{venue % 4}"
    if kind == "restaurant" and n % (4 * len(KINDS)) == 0:
        del item["allergens"]  # one restaurant in four declares none: unknown
    return item


def write_catalog(path: Path, size: int) -> None:
    rng = random.Random(13)
    with path.open("w", encoding="utf-8") as out:
        for n in range(size):
            out.write(json.dumps(synthetic_item(n, rng), ensure_ascii=False) + "\n")


def main() -> int:
    with common.prepared() as customers:
        common.setup_django(LOG_LEVEL="warning")
        from django.db import connection

        from customers import services
        from customers.models import CatalogItem

        ids = [c.customer_id for c in customers]
        rows, met = [], True
        try:
            with tempfile.TemporaryDirectory() as tmp:
                for size in SIZES:
                    path = Path(tmp) / f"catalog-{size}.jsonl"
                    write_catalog(path, size)
                    started = time.perf_counter()
                    counts = services.catalog_import(path=path)
                    seconds = time.perf_counter() - started
                    with connection.cursor() as cursor:  # what autovacuum does soon after a large import
                        cursor.execute("VACUUM ANALYZE customers_catalogitem")
                    rng = random.Random(size)
                    for _ in range(WARM_UP):
                        services.catalog_turn_read(customer_id=rng.choice(ids), text=rng.choice(REQUESTS))
                    latencies, returned = [], []
                    for call in range(CALLS):
                        customer_id, text = ids[call % len(ids)], REQUESTS[call % len(REQUESTS)]
                        t0 = time.perf_counter()
                        found = services.catalog_turn_read(customer_id=customer_id, text=text).candidates
                        latencies.append(time.perf_counter() - t0)
                        returned.append(len(found))
                    stats = common.distribution(latencies)
                    row = {
                        "items": size,
                        "import_rows": size,
                        "import_seconds": round(seconds, 2),
                        "import_rows_per_second": round(size / seconds),
                        "import_counts": dataclasses.asdict(counts),
                        "candidates_ms": stats,
                        "mean_candidates_returned": round(sum(returned) / len(returned), 2),
                    }
                    target = TARGET_P95_MS.get(size)
                    row["p95_target_ms"] = target
                    row["p95_met"] = None if target is None else stats["p95"] < target
                    rows.append(row)
                    print(json.dumps(row), flush=True)
        finally:
            CatalogItem.objects.filter(external_id__startswith="bench-").delete()
    largest = rows[-1]
    import_met = largest["import_rows_per_second"] >= TARGET_IMPORT_ROWS_PER_SECOND
    met = all(row["p95_met"] is not False for row in rows) and import_met
    result = {
        "rows": rows,
        "targets": {"p95_ms": TARGET_P95_MS, "import_rows_per_second": TARGET_IMPORT_ROWS_PER_SECOND},
        "import_met": import_met,
        "met": met,
    }
    common.write_result("catalog", result)
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
