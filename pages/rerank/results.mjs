// The Search page's results as a Streamlit custom component (v2): the weights, alpha and the strategy re-rank the
// query's kept candidates here, in the page, with fusion.mjs (the library's twin), and redraw the cards at once.
// Python hears only the settled value (debounced), so a drag costs the server one script run; cards' buttons
// (like, dislike, similar, why) go to Python as trigger values. pages/_rerank.py sends `data` (see there).
// This file is appended to fusion.mjs into one module: rank, strategies and FusionError come from there.

const SETTLE_MS = 250;
const LABELS = { text: "Text", image: "Image", audio: "Audio" };
const COLOURS = { text: "#4C78A8", image: "#F58518", audio: "#54A24B" };
// Material Icons' thumb_up and thumb_down (Apache 2.0), as today's cards show them; no emoji font needed
const ICONS = {
  like: '<svg viewBox="0 0 24 24" width="16" height="16" aria-hidden="true"><path fill="currentColor" d="M1 21h4V9H1v12zm22-11c0-1.1-.9-2-2-2h-6.31l.95-4.57.03-.32c0-.41-.17-.79-.44-1.06L14.17 1 7.59 7.59C7.22 7.95 7 8.45 7 9v10c0 1.1.9 2 2 2h9c.83 0 1.54-.5 1.84-1.22l3.02-7.05c.09-.23.14-.47.14-.73v-2z"/></svg>',
  dislike: '<svg viewBox="0 0 24 24" width="16" height="16" aria-hidden="true"><path fill="currentColor" d="M15 3H6c-.83 0-1.54.5-1.84 1.22l-3.02 7.05c-.09.23-.14.47-.14.73v2c0 1.1.9 2 2 2h6.31l-.95 4.57-.03.32c0 .41.17.79.44 1.06L9.83 23l6.59-6.59c.36-.36.58-.86.58-1.41V5c0-1.1-.9-2-2-2zm4 0v12h4V3h-4z"/></svg>',
};
const instances = new WeakMap(); // parentElement -> this mounted instance's state, kept across renders

export default function (component) {
  const { data, parentElement, setStateValue, setTriggerValue } = component;
  const root = parentElement.querySelector(".rr");
  if (!root || !data) return;
  let me = instances.get(parentElement);
  if (!me) {
    me = { seq: 0, weights: null, strategy: null, queryKey: null, cards: new Map(), timer: null, root };
    instances.set(parentElement, me);
  }
  me.data = data;
  me.send = { setStateValue, setTriggerValue };
  // Python's view wins once it has heard our latest move (or for a new query); until then the hand's does.
  if (data.seq >= me.seq || data.query_key !== me.queryKey || me.weights === null) {
    me.weights = { ...data.weights };
    me.strategy = data.strategy;
    me.seq = Math.max(me.seq, data.seq);
  }
  if (data.query_key !== me.queryKey) me.cards.clear();
  me.queryKey = data.query_key;
  controls(me);
  draw(me);
  return () => clearTimeout(me.timer);
}

function fmt(x) {
  return x.toFixed(2);
}

function alphaOf(w) {
  const total = w.text + w.image;
  return total > 0 ? w.image / total : 0.5;
}

function controls(me) {
  const { root, data } = me;
  const box = root.querySelector(".rr-controls");
  if (!box.dataset.ready) {
    box.innerHTML = "";
    box.append(slider("alpha", "Text ↔ image (alpha)",
      "0 = text only, 1 = image only. Sets the text weight to 1 − alpha and the image weight to alpha."));
    for (const m of MODALITIES) box.append(slider(m, LABELS[m], `Weight of the ${m} similarity`));
    const label = document.createElement("label");
    label.className = "rr-strategy";
    label.textContent = "Fusion strategy";
    const select = document.createElement("select");
    select.setAttribute("aria-label", "Fusion strategy");
    label.append(select);
    box.append(label);
    box.dataset.ready = "1";
  }
  const select = box.querySelector("select");
  const names = Object.keys(data.strategies);
  if (select.options.length !== names.length) {
    select.replaceChildren(...names.map((n) => new Option(n, n)));
  }
  select.value = me.strategy;
  select.title = data.strategies[me.strategy] ?? "";
  select.onchange = () => move(me, () => { me.strategy = select.value; });
  for (const input of box.querySelectorAll("input[type=range]")) {
    const name = input.dataset.weight;
    const value = name === "alpha" ? alphaOf(me.weights) : me.weights[name];
    input.value = String(Math.round(value * 100) / 100); // the hand's own value while it moves: no jump
    input.nextElementSibling.textContent = fmt(value);
    input.oninput = () => move(me, () => {
      const v = Number(input.value);
      if (name === "alpha") me.weights = { ...me.weights, text: 1.0 - v, image: v }; // Weights.from_alpha
      else me.weights = { ...me.weights, [name]: v };
    });
  }
  const note = root.querySelector(".rr-note");
  note.textContent = data.strategies[me.strategy] ? `${data.strategies[me.strategy]}` : "";
}

function slider(name, label, help) {
  const wrap = document.createElement("label");
  wrap.className = "rr-slider";
  wrap.title = help;
  const span = document.createElement("span");
  span.textContent = label;
  const input = document.createElement("input");
  Object.assign(input, { type: "range", min: "0", max: "1", step: "0.01" });
  input.dataset.weight = name;
  input.setAttribute("aria-label", label);
  const out = document.createElement("output");
  wrap.append(span, input, out);
  return wrap;
}

function move(me, change) {
  change();
  me.seq += 1;
  controls(me);
  draw(me);
  clearTimeout(me.timer);
  const settle = () => {
    me.send.setStateValue("settled", { seq: me.seq, weights: me.weights, strategy: me.strategy });
    linkFollows(me);
  };
  // A strategy the browser does not know is ranked by Python: tell it at once.
  if (strategies().includes(me.strategy)) me.timer = setTimeout(settle, SETTLE_MS);
  else settle();
}

function linkFollows(me) {
  // The address bar holds the view (mmrec_core.session.to_params): it follows at once, without the server.
  const url = new URL(window.location.href);
  if (!url.searchParams.has("q") && !url.searchParams.has("alpha")) return; // not a link Python wrote
  const w = me.weights;
  const values = { alpha: alphaOf(w), wt: w.text, wi: w.image, wa: w.audio };
  for (const [name, v] of Object.entries(values)) url.searchParams.set(name, fmt(v));
  url.searchParams.set("strategy", me.strategy);
  window.history.replaceState(window.history.state, "", url);
}

function ranking(me) {
  const { data } = me;
  if (!strategies().includes(me.strategy)) {
    // an older page meeting a newer strategy: Python's ranking of the settled view, or a wait for it
    if (data.strategy === me.strategy && data.seq >= me.seq) return data.server;
    return { waiting: `Ranking with “${me.strategy}” on the server…` };
  }
  try {
    return rank(data.cands, me.weights, { strategy: me.strategy, k: data.k, params: data.params, exclude: data.cands.exclude });
  } catch (err) {
    if (err instanceof FusionError) return { error: err.message };
    throw err;
  }
}

function draw(me) {
  const { root, data } = me;
  const caption = root.querySelector(".rr-caption");
  const message = root.querySelector(".rr-message");
  const grid = root.querySelector(".rr-grid");
  const got = ranking(me);
  const problem = got.error ?? got.waiting ?? (got.positions.length ? null : data.no_match);
  if (problem) {
    message.textContent = problem;
    message.className = `rr-message ${got.error ? "rr-error" : "rr-warning"}`;
    message.hidden = false;
    caption.textContent = "";
    grid.replaceChildren();
    return;
  }
  message.hidden = true;
  const w = me.weights;
  caption.textContent = `Top ${got.positions.length} of ${data.n_items.toLocaleString("en-US")} items · strategy ${me.strategy} · weights `
    + MODALITIES.map((m) => `${m} ${fmt(w[m])}`).join(", ");
  const cards = got.positions.map((pos, i) => card(me, pos, i + 1, got.scores[i], got.contributions[i]));
  const same = cards.length === grid.children.length && cards.every((c, i) => grid.children[i] === c);
  if (!same) grid.replaceChildren(...cards); // existing cards move; their pictures are not fetched again
}

function scoreLine(score, contributions) {
  const parts = MODALITIES.map((m, j) => [m, contributions[j]]).filter(([, v]) => v !== 0)
    .map(([m, v]) => `${m} ${v >= 0 ? "+" : ""}${v.toFixed(3)}`);
  return `score ${score.toFixed(3)}` + (parts.length ? ` = ${parts.join(" · ")}` : "");
}

function card(me, pos, rankNo, score, contributions) {
  const item = me.data.items[pos];
  let el = me.cards.get(item.id);
  if (!el) {
    el = build(me, item);
    me.cards.set(item.id, el);
  }
  el.querySelector(".rr-title").textContent = `${rankNo}. ${item.title}`;
  el.querySelector(".rr-score").textContent = scoreLine(score, contributions);
  el.dataset.score = String(score); // full precision, for tests and tools that compare with the library
  el.dataset.contributions = JSON.stringify(contributions);
  const total = contributions.reduce((s, v) => s + Math.max(v, 0), 0) || 1;
  el.querySelectorAll(".rr-bar span").forEach((part, j) => { // the split, in place: no new nodes per move
    part.style.width = `${(100 * Math.max(contributions[j], 0)) / total}%`;
    part.title = `${MODALITIES[j]} ${contributions[j].toFixed(3)}`;
  });
  const status = me.data.liked.includes(item.id) ? "liked" : me.data.disliked.includes(item.id) ? "disliked" : "";
  el.querySelector("[data-action=like]").setAttribute("aria-pressed", String(status === "liked"));
  el.querySelector("[data-action=dislike]").setAttribute("aria-pressed", String(status === "disliked"));
  return el;
}

function build(me, item) {
  const el = document.createElement("div");
  el.className = "rr-card";
  el.setAttribute("role", "listitem");
  el.dataset.id = item.id;
  const media = document.createElement("div");
  media.className = "rr-media";
  if (item.video) {
    const video = document.createElement("video");
    Object.assign(video, { controls: true, preload: "metadata", src: `${item.video}#t=${item.at}` });
    video.setAttribute("aria-label", item.title);
    media.append(video);
  } else if (item.image) {
    const img = document.createElement("img");
    Object.assign(img, { src: item.image, alt: item.title, loading: "lazy", decoding: "async" });
    media.append(img);
  } else if (me.data.has_images) {
    media.classList.add("rr-none");
    media.textContent = "no image";
  }
  if (media.childNodes.length) el.append(media);
  const title = document.createElement("p");
  title.className = "rr-title";
  const score = document.createElement("p");
  score.className = "rr-score";
  const bar = document.createElement("div");
  bar.className = "rr-bar";
  bar.setAttribute("aria-hidden", "true");
  for (const m of MODALITIES) {
    const part = document.createElement("span");
    part.style.background = COLOURS[m];
    bar.append(part);
  }
  el.append(title, score, bar);
  if (item.line) {
    const line = document.createElement("p");
    line.className = "rr-line";
    line.textContent = item.line;
    el.append(line);
  }
  if (item.audio) {
    const audio = document.createElement("audio");
    Object.assign(audio, { controls: true, preload: "none", src: item.audio });
    audio.setAttribute("aria-label", `Sound of ${item.title}`);
    el.append(audio);
  }
  const buttons = document.createElement("div");
  buttons.className = "rr-buttons";
  for (const [action, text, help] of [
    ["like", "", "Like: add to your profile (click again to undo)"],
    ["dislike", "", "Dislike: steer recommendations away (click again to undo)"],
    ["similar", "Similar", "More like this: search with this item as the query"],
    ["why", "Why", "Which words, which part of the image and which seconds of the sound made this match"],
  ]) {
    const b = document.createElement("button");
    b.type = "button";
    b.dataset.action = action;
    if (ICONS[action]) b.innerHTML = ICONS[action]; // fixed markup of ours, never item data
    else b.textContent = text;
    b.title = help;
    b.setAttribute("aria-label", action === "like" || action === "dislike" ? `${action[0].toUpperCase()}${action.slice(1)} ${item.title}` : `${text}: ${item.title}`);
    b.onclick = () => me.send.setTriggerValue("action", { kind: action, id: item.id });
    buttons.append(b);
  }
  el.append(buttons);
  return el;
}
