// DOM building for the page. Every string from the API (the model's text, catalog names, codes) goes in as a text
// node: nothing here parses HTML, so markup in a reply or an item name shows as the characters it is.

/** An element with attributes (`class`, `aria-*`, ...; `on*` functions become listeners) and children (strings
 * become text nodes; null and false are skipped). */
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    if (typeof value === "function") node.addEventListener(name.replace(/^on/, ""), value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(typeof child === "string" || typeof child === "number" ? document.createTextNode(String(child)) : child);
  }
  return node;
}

/** An amount in minor units of `currency`, in the browser's locale (₩10,000; $12.50). */
export function money(minor, currency) {
  if (minor === null || minor === undefined) return "free";
  try {
    const format = new Intl.NumberFormat(undefined, { style: "currency", currency });
    return format.format(minor / 10 ** format.resolvedOptions().maximumFractionDigits);
  } catch {
    return `${minor} ${currency}`;
  }
}

export function when(iso) {
  return new Date(iso).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

const UNPRICED = new Set(["restaurant", "place"]);
const words = (codes) => codes.map((code) => code.replaceAll("_", " ")).join(", ");

/** The receipt of a card as chips: what was checked, against what. */
function receipt(checks, currency) {
  const chips = [];
  if (checks.allergens.length) chips.push(["ok", `Allergens checked: no ${words(checks.allergens)}`]);
  if (checks.diets.length) chips.push(["ok", `Diet: ${words(checks.diets)}`]);
  if (checks.max_price !== null && checks.max_price !== undefined)
    chips.push(["ok", `Within your cap of ${money(checks.max_price, currency)}`]);
  chips.push(["ok", `Within your monthly limit (${money(checks.budget_remaining, currency)} left)`]);
  if (checks.dishes.length) chips.push(["ok", checks.dishes.length === 1 ? "1 dish fits" : `${checks.dishes.length} dishes fit`]);
  if (checks.unverified.length) chips.push(["note", `Not checked: ${checks.unverified.join(", ")}`]);
  return el("ul", { class: "chips receipt", "aria-label": "Checked for you" }, ...chips.map(([kind, text]) => el("li", { class: `chip ${kind}` }, text)));
}

/** A recommendation card with thumbs up and down; `rate(id, rating)` resolves once the rating is stored. */
export function card(recommendation, { rate, rated }) {
  const { item, checks } = recommendation;
  const buttons = {};
  const choose = async (rating) => {
    await rate(recommendation.id, rating);
    for (const [name, button] of Object.entries(buttons)) button.setAttribute("aria-pressed", String(name === rating));
  };
  buttons.up = el("button", { type: "button", class: "rate", "aria-pressed": String(rated === "up"), "aria-label": `Good pick: ${item.name}`, onclick: () => choose("up") }, "Good");
  buttons.down = el("button", { type: "button", class: "rate down", "aria-pressed": String(rated === "down"), "aria-label": `Not for me: ${item.name}`, onclick: () => choose("down") }, "Not for me");
  return el(
    "article",
    { class: "card", "data-recommendation": recommendation.id },
    el("h4", { class: "card-name" }, item.name),
    // A restaurant or a place has no one price: null there says nothing, elsewhere it means free.
    el("p", { class: "card-meta" }, [item.kind, item.area, item.price === null && UNPRICED.has(item.kind) ? "" : money(item.price, item.currency)].filter(Boolean).join(" · ")),
    el("p", { class: "card-reason" }, recommendation.reason),
    receipt(checks, item.currency),
    el("div", { class: "rating", role: "group", "aria-label": "Rate this pick" }, buttons.up, buttons.down),
  );
}

/** A message of the conversation, with an assistant message's cards; `ratedOf(id)` is a card's rating, if known. */
export function message(entry, { rate, ratedOf }) {
  const cards = (entry.recommendations || []).map((recommendation) =>
    card(recommendation, { rate, rated: ratedOf(recommendation.id) }),
  );
  return el(
    "li",
    { class: `message ${entry.role}` },
    el("span", { class: "visually-hidden" }, entry.role === "user" ? "You said:" : "Reply:"),
    el("p", { class: "text" }, entry.content),
    entry.interrupted ? el("p", { class: "hint" }, "(This reply was cut short.)") : null,
    cards.length ? el("div", { class: "cards" }, ...cards) : null,
  );
}

const CONSTRAINT_LABELS = { allergens: "allergy", diets: "diet", exclude_tags: "not", kinds: "only" };

/** The session's stated constraints as chips, each with a remove button: `remove(next)` gets the constraints
 * without it. */
export function constraintChips(constraints, { currency, remove }) {
  const chips = [];
  for (const [field, label] of Object.entries(CONSTRAINT_LABELS)) {
    for (const value of constraints[field] || []) {
      const next = { ...constraints, [field]: constraints[field].filter((other) => other !== value) };
      chips.push(chip(`${label}: ${value.replaceAll("_", " ")}`, () => remove(next)));
    }
  }
  if (constraints.max_price !== null && constraints.max_price !== undefined)
    chips.push(chip(`up to ${money(constraints.max_price, currency)}`, () => remove({ ...constraints, max_price: null })));
  return chips;
}

function chip(text, onRemove) {
  return el(
    "li",
    { class: "chip stated" },
    el("span", {}, text),
    el("button", { type: "button", class: "remove", "aria-label": `Remove ${text}`, onclick: onRemove }, "×"),
  );
}
