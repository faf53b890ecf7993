// Aisle chat page. Plain ES2020, no dependencies.
// All server/catalog text is rendered with textContent / createElement (never innerHTML).
'use strict';

(() => {
  const messagesEl = document.getElementById('messages');
  const form = document.getElementById('chat-form');
  const input = document.getElementById('chat-input');
  const sendBtn = form.querySelector('button[type="submit"]');
  const statusEl = document.getElementById('connection-status');
  const typingEl = document.getElementById('typing');
  const cartCountEl = document.getElementById('cart-count');
  const cartItemsEl = document.getElementById('cart-items');
  const cartTotalEl = document.getElementById('cart-total');
  const resetBtn = document.getElementById('new-conversation');

  // The shopper's cart and liked products (the session's, kept across new conversations), and
  // requests to try, from the catalog: both rendered into the page by the server.
  function readJson(id, fallback) {
    const node = document.getElementById(id);
    try { return node ? JSON.parse(node.textContent) : fallback; } catch { return fallback; }
  }
  const standing = readJson('aisle-standing', { cart: { items: [], count: 0, totals: {} }, liked: [] });
  const examples = readJson('aisle-examples', []);
  let inCart = new Set((standing.cart.items || []).map((item) => String(item.sku)));
  let liked = new Set((standing.liked || []).map(String));

  const WS_URL = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws/chat/';
  const MAX_DELAY = 30000;
  const POLICY_VIOLATION = 4008; // the server closes with this after too many refused frames
  let ws = null;
  let delay = 1000;
  let retryTimer = null;
  let countdownTimer = null;

  // ---------- helpers ----------
  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  const str = (v) => (v === undefined || v === null ? '' : String(v));

  // The server sends only safe links (catalog/links.py); this is the page's own guard for the
  // same rule: a path on this site ("/p/1", never "//host/p/1") or an https: URL.
  function safeUrl(raw) {
    if (typeof raw !== 'string' || !raw.trim()) return null;
    const text = raw.trim();
    if (/[\u0000-\u001f\u007f\\]/.test(text)) return null;
    try {
      if (text.startsWith('/')) {
        const u = new URL(text, location.href);
        return !text.startsWith('//') && u.origin === location.origin ? u.href : null;
      }
      const u = new URL(text);
      return u.protocol === 'https:' && u.hostname ? u.href : null;
    } catch {
      return null;
    }
  }

  function formatPrice(price, currency) {
    if (price === undefined || price === null || price === '') return '';
    const n = typeof price === 'number' ? price : Number(price);
    const cur = str(currency).trim();
    if (!Number.isFinite(n)) return `${price} ${cur}`.trim();
    if (cur) {
      try {
        return new Intl.NumberFormat(undefined, { style: 'currency', currency: cur }).format(n);
      } catch {
        /* invalid currency code: fall through */
      }
    }
    return `${n.toLocaleString(undefined, { maximumFractionDigits: 2 })} ${cur}`.trim();
  }

  function formatRating(rating) {
    if (rating === undefined || rating === null || rating === '') return '';
    const n = Number(rating);
    return Number.isFinite(n) ? `\u2605 ${n.toFixed(1)}` : '';
  }

  function formatCell(v) {
    if (v === undefined || v === null || v === '') return '\u2014';
    if (Array.isArray(v)) return v.length ? v.map(str).join(', ') : '\u2014';
    if (typeof v === 'boolean') return v ? 'Yes' : 'No';
    if (typeof v === 'object') return JSON.stringify(v);
    return String(v);
  }

  function scrollToBottom() {
    messagesEl.scrollTop = messagesEl.scrollHeight;
  }

  function setTyping(on) {
    typingEl.hidden = !on;
    if (on) scrollToBottom();
  }

  // ---------- sending ----------
  function send(payload) {
    if (!ws || ws.readyState !== WebSocket.OPEN) return false;
    ws.send(JSON.stringify(payload));
    return true;
  }

  function sendMessage(text) {
    text = str(text).trim().slice(0, 1000);
    if (!text) return false;
    if (!send({ type: 'message', text })) return false;
    addMessage('user', text);
    setTyping(true);
    return true;
  }

  function sendFeedback(sku, action, button) {
    // "In cart" does not add the product a second time; saying "add another" does.
    if (action === 'add_to_cart' && inCart.has(sku)) return;
    if (send({ type: 'feedback', sku, action }) && button) button.classList.add('pending');
  }

  // A product's every field, in a dialog: what the catalog says of it.
  async function showDetails(sku) {
    const dialog = document.getElementById('product-detail');
    let product;
    try {
      const response = await fetch(`/api/products/${encodeURIComponent(sku)}/`);
      if (!response.ok) return;
      product = await response.json();
    } catch {
      return;
    }
    dialog.querySelector('h2').textContent = str(product.title);
    dialog.querySelector('.price').textContent = [formatPrice(product.price, product.currency), str(product.brand)]
      .filter(Boolean).join(' · ');
    dialog.querySelector('.description').textContent = str(product.description);
    const rows = [];
    const fields = { ...(product.attributes || {}) };
    if (product.rating !== null && product.rating !== undefined) fields.rating = `${product.rating} / 5`;
    if (product.stock !== null && product.stock !== undefined) fields.stock = product.stock ? 'in stock' : 'out of stock';
    if (Array.isArray(product.categories) && product.categories.length) fields.category = product.categories.join('; ');
    const inCm = new Set(['width', 'depth', 'height', 'length', 'diameter']);
    for (const [name, value] of Object.entries(fields)) {
      const shown = Array.isArray(value) ? value.join(', ') : str(value);
      rows.push(el('dt', null, name.replace(/_/g, ' ')));
      rows.push(el('dd', null, inCm.has(name) && /^[\d.]+$/.test(shown) ? `${shown} cm` : shown));
    }
    dialog.querySelector('.fields').replaceChildren(...rows);
    dialog.showModal();
  }

  function renderCart(cart) {
    if (!cart || typeof cart !== 'object') return;
    const items = Array.isArray(cart.items) ? cart.items : [];
    inCart = new Set(items.map((item) => str(item.sku)));
    cartCountEl.textContent = String(Number(cart.count) || 0);
    const rows = items.map((item) => {
      const li = el('li');
      li.dataset.sku = str(item.sku);
      li.append(el('span', 'quantity', `${Number(item.quantity) || 1} ×`), ' ', el('span', 'title', str(item.title)));
      const price = formatPrice(item.price, item.currency);
      if (price) li.append(' ', el('span', 'price', price));
      const remove = el('button', 'remove secondary', 'Remove');
      remove.type = 'button';
      remove.setAttribute('aria-label', `Remove ${str(item.title)} from the cart`);
      remove.addEventListener('click', () => sendMessage(`remove “${str(item.title)}” from my cart`));
      li.append(' ', remove);
      return li;
    });
    if (!rows.length) rows.push(el('li', 'empty', 'Your cart is empty.'));
    cartItemsEl.replaceChildren(...rows);
    const totals = Object.entries(cart.totals || {}).map(([currency, total]) => formatPrice(total, currency));
    cartTotalEl.textContent = totals.length ? `Total: ${totals.join(' + ')}` : '';
    markStanding();
  }

  // Cards show what the shopper did with them: liked, in the cart (also after a reload).
  function markStanding() {
    messagesEl.querySelectorAll('.product-card').forEach((card) => {
      const sku = card.dataset.sku;
      const add = card.querySelector('button[data-action="add_to_cart"]');
      if (add) {
        add.textContent = inCart.has(sku) ? 'In cart' : 'Add to cart';
        add.classList.toggle('done', inCart.has(sku));
        add.setAttribute('aria-pressed', String(inCart.has(sku)));
      }
      const like = card.querySelector('button[data-action="like"]');
      if (like) {
        like.classList.toggle('done', liked.has(sku));
        like.setAttribute('aria-pressed', String(liked.has(sku)));
      }
    });
  }

  // ---------- rendering ----------
  function placeholder(title) {
    const first = Array.from(str(title).trim())[0] || '?';
    const ph = el('div', 'placeholder', first.toUpperCase());
    ph.setAttribute('aria-hidden', 'true');
    return ph;
  }

  function renderProduct(p) {
    const sku = str(p.sku);
    const title = str(p.title) || sku || 'Untitled product';
    const card = el('article', 'product-card');
    card.dataset.sku = sku;

    const thumb = el('div', 'thumb');
    const imgUrl = safeUrl(p.image_url);
    if (imgUrl) {
      const img = el('img');
      img.alt = '';
      img.loading = 'lazy';
      img.referrerPolicy = 'no-referrer';
      img.addEventListener('error', () => img.replaceWith(placeholder(title)), { once: true });
      img.src = imgUrl;
      thumb.append(img);
    } else {
      thumb.append(placeholder(title));
    }

    const body = el('div', 'body');
    const heading = el('h3', 'name');
    heading.title = title; // the card shows two lines of it
    const url = safeUrl(p.url);
    if (url) {
      const a = el('a', 'title', title);
      a.href = url;
      a.target = '_blank';
      a.rel = 'noopener noreferrer';
      a.addEventListener('click', () => sendFeedback(sku, 'click'));
      a.addEventListener('auxclick', (e) => { if (e.button === 1) sendFeedback(sku, 'click'); });
      heading.append(a);
    } else {
      heading.append(el('span', 'title', title));
    }
    body.append(heading);

    const meta = el('p', 'meta');
    const price = formatPrice(p.price, p.currency);
    if (price) meta.append(el('span', 'price', price));
    if (p.brand) meta.append(el('span', 'brand', p.brand));
    const rating = formatRating(p.rating);
    if (rating) {
      const r = el('span', 'rating', rating);
      r.title = `Rated ${Number(p.rating).toFixed(1)}`;
      meta.append(r);
    }
    if (meta.childNodes.length) body.append(meta);
    if (p.explanation) body.append(el('p', 'explanation', p.explanation));

    const actions = el('div', 'actions');
    const details = el('button', 'details secondary', 'Details');
    details.type = 'button';
    details.setAttribute('aria-label', `Details: ${title}`);
    details.addEventListener('click', () => showDetails(sku));
    for (const [action, label] of [['add_to_cart', 'Add to cart'], ['like', 'Like'], ['dislike', 'Dislike']]) {
      const b = el('button', `feedback ${action}${action === 'add_to_cart' ? ' primary' : ''}`, label);
      b.type = 'button';
      b.dataset.action = action;
      b.setAttribute('aria-label', `${label}: ${title}`);
      b.setAttribute('aria-pressed', 'false');
      b.addEventListener('click', () => sendFeedback(sku, action, b));
      actions.append(b);
    }
    actions.append(details);
    body.append(actions);
    card.append(thumb, body);
    return card;
  }

  function renderCompare(compare) {
    const skus = Array.isArray(compare.skus) ? compare.skus.map(str) : [];
    const rows = Array.isArray(compare.rows) ? compare.rows : [];
    // The "title" row names the columns; the body shows the other fields.
    const titleRow = rows.find((row) => row.field === 'title');
    const titles = new Map(skus.map((sku, i) => [sku, titleRow && titleRow.values ? str(titleRow.values[i]) : '']));
    const wrap = el('div', 'compare-wrap');
    const table = el('table', 'compare');
    table.append(el('caption', null, 'Comparison'));
    const headRow = el('tr');
    const corner = el('th');
    corner.scope = 'col';
    headRow.append(corner);
    for (const sku of skus) {
      const th = el('th', null, titles.get(sku) || sku);
      th.scope = 'col';
      headRow.append(th);
    }
    const thead = el('thead');
    thead.append(headRow);
    const tbody = el('tbody');
    for (const row of rows.filter((r) => r !== titleRow)) {
      const tr = el('tr');
      const th = el('th', null, row.field);
      th.scope = 'row';
      tr.append(th);
      const values = Array.isArray(row.values) ? row.values : [];
      skus.forEach((_, i) => tr.append(el('td', null, formatCell(values[i]))));
      tbody.append(tr);
    }
    table.append(thead, tbody);
    wrap.append(table);
    return wrap;
  }

  function renderSuggestions(suggestions) {
    const box = el('div', 'suggestions');
    box.setAttribute('aria-label', 'Suggestions');
    for (const s of suggestions) {
      const b = el('button', 'suggestion', s);
      b.type = 'button';
      // The reply replaces the chips; like the Send button, a chip hands focus back to the input
      // so that keyboard focus does not fall to <body>.
      b.addEventListener('click', () => { if (sendMessage(s)) input.focus(); });
      box.append(b);
    }
    return box;
  }

  function addMessage(role, text, extra = {}) {
    const msg = el('div', `msg ${role}`);
    if (extra.createdAt) {
      const d = new Date(extra.createdAt);
      if (!Number.isNaN(d.getTime())) msg.title = d.toLocaleString();
    }
    if (text) msg.append(el('p', 'bubble', text));
    const products = Array.isArray(extra.products) ? extra.products : [];
    if (products.length) {
      const grid = el('div', 'products');
      products.forEach((p) => p && grid.append(renderProduct(p)));
      msg.append(grid);
    }
    if (extra.compare && typeof extra.compare === 'object') msg.append(renderCompare(extra.compare));
    if (Array.isArray(extra.suggestions) && extra.suggestions.length) {
      // Only the latest reply keeps its suggestion chips.
      messagesEl.querySelectorAll('.suggestions').forEach((n) => n.remove());
      msg.append(renderSuggestions(extra.suggestions));
    }
    messagesEl.append(msg);
    markStanding();
    scrollToBottom();
    return msg;
  }

  function markAck(sku, action) {
    const sel = `.product-card[data-sku="${CSS.escape(str(sku))}"] button[data-action="${CSS.escape(str(action))}"]`;
    messagesEl.querySelectorAll(sel).forEach((b) => {
      b.classList.remove('pending');
      b.classList.add('done', 'flash');
      b.setAttribute('aria-pressed', 'true');
      setTimeout(() => b.classList.remove('flash'), 1200);
      const opposite = { like: 'dislike', dislike: 'like' }[action];
      const other = opposite && b.parentElement.querySelector(`button[data-action="${opposite}"]`);
      if (other) {
        other.classList.remove('done');
        other.setAttribute('aria-pressed', 'false');
      }
    });
  }

  function greet() {
    addMessage('assistant', 'Hello! Tell me what you are looking for.', { suggestions: examples });
  }

  // ---------- incoming ----------
  function handle(data) {
    let msg;
    try {
      msg = JSON.parse(data);
    } catch {
      console.warn('Aisle: ignoring non-JSON frame');
      return;
    }
    switch (msg && msg.type) {
      case 'reply':
        setTyping(false);
        addMessage('assistant', msg.text, {
          products: msg.products, compare: msg.compare, suggestions: msg.suggestions,
        });
        renderCart(msg.cart);
        break;
      case 'ack':
        markAck(msg.sku, msg.action);
        if (Array.isArray(msg.liked)) liked = new Set(msg.liked.map(str));
        renderCart(msg.cart);
        break;
      case 'history':
        setTyping(false);
        messagesEl.replaceChildren();
        for (const m of Array.isArray(msg.messages) ? msg.messages : []) {
          const role = m.role === 'user' ? 'user' : 'assistant';
          addMessage(role, m.text, { products: m.products, compare: m.compare, createdAt: m.created_at });
        }
        if (!messagesEl.childElementCount) greet();
        break;
      case 'error':
        setTyping(false);
        addMessage('error', msg.message || msg.code || 'Something went wrong.');
        break;
      default:
        break;
    }
  }

  // ---------- connection ----------
  function setConnected(on) {
    sendBtn.disabled = !on;
    resetBtn.disabled = !on;
  }

  function setStatus(text, state) {
    statusEl.textContent = text;
    statusEl.dataset.state = state;
  }

  function connect() {
    clearTimeout(retryTimer);
    clearInterval(countdownTimer);
    setStatus('Connecting\u2026', 'connecting');
    let sock;
    try {
      sock = new WebSocket(WS_URL);
    } catch {
      scheduleReconnect();
      return;
    }
    ws = sock;
    sock.addEventListener('open', () => {
      if (sock !== ws) return;
      delay = 1000;
      setConnected(true);
      setStatus('Connected', 'connected');
    });
    sock.addEventListener('message', (e) => { if (sock === ws) handle(e.data); });
    sock.addEventListener('close', (event) => {
      if (sock !== ws) return;
      ws = null;
      setConnected(false);
      setTyping(false);
      if (event.code === POLICY_VIOLATION) {
        // Closed for too many refused messages: coming straight back would dodge the limit.
        setStatus('Disconnected: too many messages were refused. Reload the page to continue.', 'closed');
        return;
      }
      scheduleReconnect();
    });
  }

  function scheduleReconnect() {
    let remaining = Math.round(delay / 1000);
    const tick = () => setStatus(`Reconnecting in ${remaining}s\u2026`, 'reconnecting');
    tick();
    countdownTimer = setInterval(() => { remaining = Math.max(remaining - 1, 1); tick(); }, 1000);
    retryTimer = setTimeout(connect, delay);
    delay = Math.min(delay * 2, MAX_DELAY);
  }

  // ---------- wiring ----------
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    if (sendMessage(input.value)) input.value = '';
    input.focus();
  });

  resetBtn.addEventListener('click', () => {
    if (!send({ type: 'reset' })) return;
    messagesEl.replaceChildren();
    setTyping(false);
    input.value = '';
    input.focus();
  });

  window.addEventListener('online', () => { if (!ws) connect(); });

  setConnected(false);
  renderCart(standing.cart);
  greet();
  connect();
})();
