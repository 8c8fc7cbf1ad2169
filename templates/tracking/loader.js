{#- The vendre-feeds loader: the one script a shop pastes (as <script async src>) into
    its global <head>. Rendered per shop by feeds/server/tracking_routes.py; every
    value from the settings arrives through |js in `config`. Plain ES5 with no build
    step; fetch and Promise are used only where the browser has them. -#}
/*! vendre-feeds loader. Applies consent defaults, loads the configured tags, finds
 * out what the page shows and sends the ecommerce events for it. It must never
 * break the shop's page: everything runs inside try/catch, and every callback is
 * wrapped the same way. */
(function (window, document) {
  var C = {{ config|js }};
  if (window.vendreFeedsLoader) { return; }  // pasted twice: the first copy does the work

  // What the loader did, for the shop's developers (and the tests): the page type it
  // found, whether it has finished, and the two functions shared with the Python index.
  var status = window.vendreFeedsLoader = {
    version: C.version, page: null, done: false, shardOf: shardOf, pathKey: pathKey,
    beacon: null
  };
  var script = document.currentScript;
  var nonce = script ? (script.nonce || script.getAttribute('nonce') || '') : '';
  var GA4_EVENTS = {view_item: 1, view_item_list: 1, add_to_cart: 1, view_cart: 1,
                    begin_checkout: 1, purchase: 1};
  var META_NAMES = {view_item: 'ViewContent', add_to_cart: 'AddToCart',
                    begin_checkout: 'InitiateCheckout', purchase: 'Purchase'};
  var CATEGORY_KEYS = ['item_category', 'item_category2', 'item_category3', 'item_category4',
                       'item_category5'];
  var LIST_IDS = 3;  // Criteo asks for the first three ids of a listing

  // ------------------------------------------------------------ never throw

  function guard(fn) {
    return function () {
      try { return fn.apply(this, arguments); } catch (e) { return undefined; }
    };
  }

  function finish() { status.done = true; }

  // ------------------------------------------------------------ consent

  // templates/tracking/consent.html, included verbatim (see consent_code): Consent Mode
  // defaults, window.vendreFeedsConsent(granted) and window.vendreFeedsWhenGranted(fn).
  // It sits in a function so its `function gtag` does not leak; gtag is returned.
  function applyConsent() {
{{ consent }}
    return gtag;
  }

  function setUpConsent() {
    window.dataLayer = window.dataLayer || [];
    if (C.consentMode && (C.gtm || C.ga4 || C.meta || C.criteo)) {
      var local = applyConsent();
      window.gtag = window.gtag || local;
    } else {
      // Without consent mode nothing waits; the banner's calls must still not fail.
      window.vendreFeedsWhenGranted = window.vendreFeedsWhenGranted ||
        function (fn) { fn(); };
      window.vendreFeedsConsent = window.vendreFeedsConsent || function () {};
    }
    // gtag.js reads `arguments` objects from the dataLayer, never arrays.
    window.gtag = window.gtag || function () { window.dataLayer.push(arguments); };
  }

  // ------------------------------------------------------------ the tags

  function addScript(src) {
    var s = document.createElement('script');
    s.async = true;
    s.src = src;
    if (nonce) { s.setAttribute('nonce', nonce); }
    (document.head || document.documentElement).appendChild(s);
  }

  function loadTags() {
    if (C.gtm) {  // what Google's container snippet does
      window.dataLayer.push({'gtm.start': new Date().getTime(), event: 'gtm.js'});
      addScript('https://www.googletagmanager.com/gtm.js?id=' + encodeURIComponent(C.gtm));
    }
    if (C.ga4) {  // gtag.js; `config` sends the page view
      addScript('https://www.googletagmanager.com/gtag/js?id=' + encodeURIComponent(C.ga4));
      window.gtag('js', new Date());
      window.gtag('config', C.ga4);
    }
    if (C.meta) { loadMeta(); }
    if (C.criteo) { loadCriteo(); }
  }

  function loadMeta() {
    // Meta's base code: a queue that fbevents.js replays once it has loaded.
    if (!window.fbq) {
      var n = window.fbq = function () {
        if (n.callMethod) { n.callMethod.apply(n, arguments); } else { n.queue.push(arguments); }
      };
      if (!window._fbq) { window._fbq = n; }
      n.push = n;
      n.loaded = true;
      n.version = '2.0';
      n.queue = [];
      addScript('https://connect.facebook.net/en_US/fbevents.js');
    }
    if (C.consentMode) {
      window.fbq('consent', 'revoke');
      window.vendreFeedsWhenGranted(function () { window.fbq('consent', 'grant'); });
    }
    window.fbq('init', C.meta);
    window.fbq('track', 'PageView');
  }

  function loadCriteo() {
    // Pushes wait in criteo_q; with consent mode the OneTag script itself is inserted
    // only once the visitor consents, and only once.
    window.criteo_q = window.criteo_q || [];
    var loaded = false;
    var load = function () {
      if (loaded) { return; }
      loaded = true;
      addScript('https://dynamic.criteo.com/js/ld/ld.js?a=' + encodeURIComponent(C.criteo));
    };
    if (C.consentMode) { window.vendreFeedsWhenGranted(load); } else { load(); }
  }

  // ------------------------------------------------------------ money
  // Index prices are 2-decimal numbers; sums are taken in whole cents so that
  // 0.1 + 0.2 gives what Python's Decimal gives.

  function cents(x) { return Math.round(x * 100); }
  function round2(x) { return cents(x) / 100; }
  function unitPrice(item) { return C.vat ? item.price : item.net_price; }

  function sumCents(items, vat) {
    var total = 0, i;
    for (i = 0; i < items.length; i++) {
      total += cents(vat ? items[i].price : items[i].net_price) * items[i].quantity;
    }
    return total;
  }

  // tracking.events: `value` of an event, with or without VAT.
  function goodsValue(ev) {
    if (ev.name !== 'purchase') { return sumCents(ev.items, C.vat) / 100; }
    if (C.vat) { return ev.value; }
    var gross = sumCents(ev.items, true), net = sumCents(ev.items, false);
    if (!gross || cents(ev.value) === gross) { return net / 100; }
    return round2(ev.value * (net / 100) / (gross / 100));
  }

  // ------------------------------------------------------------ payloads
  // Each function returns exactly what tracking/services/<service>.py renders.

  function ga4Item(item) {  // ga4.item_params
    var p = {item_id: item.id, item_name: item.name, item_brand: item.brand}, out = {}, k, i;
    for (i = 0; i < item.categories.length && i < CATEGORY_KEYS.length; i++) {
      p[CATEGORY_KEYS[i]] = item.categories[i];
    }
    p.item_variant = item.variant;
    p.price = unitPrice(item);
    p.quantity = item.quantity;
    p.index = item.index;
    for (k in p) {
      if (Object.prototype.hasOwnProperty.call(p, k) && p[k] !== '') { out[k] = p[k]; }
    }
    return out;
  }

  function ga4Params(ev) {  // ga4.event_params
    var items = [], i, params;
    for (i = 0; i < ev.items.length; i++) { items.push(ga4Item(ev.items[i])); }
    if (ev.name === 'view_item_list') {
      params = {};
      if (ev.list_id) { params.item_list_id = ev.list_id; }
      if (ev.list_name) { params.item_list_name = ev.list_name; }
      params.items = items;
      return params;
    }
    params = {};
    if (ev.name === 'purchase') { params.transaction_id = ev.transaction_id; }
    params.currency = ev.currency;
    params.value = goodsValue(ev);
    params.items = items;
    if (ev.name === 'purchase') {
      params.tax = ev.tax;
      params.shipping = ev.shipping;
    }
    return params;
  }

  function metaParams(ev) {  // meta_pixel._params
    var ids = [], unique = [], seen = {}, contents = [], i, id, quantity = 0, params;
    for (i = 0; i < ev.items.length; i++) {
      id = C.metaGroups ? (ev.items[i].group_id || ev.items[i].id) : ev.items[i].id;
      ids.push(id);
      contents.push({id: id, quantity: ev.items[i].quantity});
      quantity += ev.items[i].quantity;
      if (!Object.prototype.hasOwnProperty.call(seen, id)) {
        seen[id] = true;
        unique.push(id);
      }
    }
    params = {content_ids: unique, content_type: C.metaGroups ? 'product_group' : 'product',
              contents: contents, value: goodsValue(ev), currency: ev.currency};
    if (ev.name === 'view_item') { params.content_name = ev.items[0].name; }
    if (ev.name === 'begin_checkout') { params.num_items = quantity; }
    return params;
  }

  function criteoBasket(ev) {
    var out = [], i;
    for (i = 0; i < ev.items.length; i++) {
      out.push({id: ev.items[i].id, price: unitPrice(ev.items[i]),
                quantity: ev.items[i].quantity});
    }
    return out;
  }

  function criteoEvent(ev) {  // criteo._EVENTS
    var ids = [], i;
    switch (ev.name) {
      case 'view_home': return {event: 'viewHome'};
      case 'view_item_list':
        for (i = 0; i < ev.items.length && i < LIST_IDS; i++) { ids.push(ev.items[i].id); }
        return {event: 'viewList', item: ids};
      case 'view_item': return {event: 'viewItem', item: ev.items[0].id};
      case 'view_cart': return {event: 'viewBasket', item: criteoBasket(ev)};
      case 'add_to_cart': return {event: 'addToCart', item: criteoBasket(ev)};
      case 'purchase':
        return {event: 'trackTransaction', id: ev.transaction_id, item: criteoBasket(ev)};
      default: return null;
    }
  }

  // ------------------------------------------------------------ sending
  // Services in the order of their tags (GTM, GA4, Meta, Criteo); one failing service
  // does not stop the others.

  var SENDERS = [
    function (ev) {  // GTM: clear the previous ecommerce object, then push
      if (!C.gtm || !GA4_EVENTS[ev.name]) { return; }
      window.dataLayer.push({ecommerce: null});
      window.dataLayer.push(ev.items ? {event: ev.name, ecommerce: ga4Params(ev)}
                                     : {event: ev.name});
    },
    function (ev) {
      if (!C.ga4 || !GA4_EVENTS[ev.name]) { return; }
      if (ev.items) { window.gtag('event', ev.name, ga4Params(ev)); } else {
        window.gtag('event', ev.name);
      }
    },
    function (ev) {
      if (!C.meta || !META_NAMES[ev.name] || !ev.items) { return; }
      if (ev.name === 'purchase') {
        window.fbq('track', META_NAMES[ev.name], metaParams(ev), {eventID: ev.transaction_id});
      } else {
        window.fbq('track', META_NAMES[ev.name], metaParams(ev));
      }
    },
    function (ev) {
      if (!C.criteo || (!ev.items && ev.name !== 'view_home')) { return; }
      var event = criteoEvent(ev);
      if (!event) { return; }
      window.criteo_q.push({event: 'setAccount', account: parseInt(C.criteo, 10)},
                           {event: 'setSiteType', type: C.criteoSiteType}, event);
    }
  ];

  // `ev.items` absent means a page-level event (the cart page without item data):
  // only GTM and GA4 take an event without items.
  function send(ev) {
    if (ev.items && !ev.currency) { ev.currency = ev.items[0].currency; }  // as in Python
    for (var i = 0; i < SENDERS.length; i++) { guard(SENDERS[i])(ev); }
  }

  // ------------------------------------------------------------ the index

  // UTF-8 bytes of a string; a lone surrogate becomes U+FFFD (as TextEncoder does).
  function utf8(text) {
    var out = [], i, c, d;
    for (i = 0; i < text.length; i++) {
      c = text.charCodeAt(i);
      if (c >= 0xD800 && c <= 0xDBFF && i + 1 < text.length &&
          (d = text.charCodeAt(i + 1)) >= 0xDC00 && d <= 0xDFFF) {
        c = 0x10000 + ((c - 0xD800) << 10) + (d - 0xDC00);
        i++;
      } else if (c >= 0xD800 && c <= 0xDFFF) {
        c = 0xFFFD;
      }
      if (c < 0x80) { out.push(c); } else if (c < 0x800) {
        out.push(0xC0 | (c >> 6), 0x80 | (c & 63));
      } else if (c < 0x10000) {
        out.push(0xE0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
      } else {
        out.push(0xF0 | (c >> 18), 0x80 | ((c >> 12) & 63), 0x80 | ((c >> 6) & 63),
                 0x80 | (c & 63));
      }
    }
    return out;
  }

  // feeds.events.index.shard_of: FNV-1a (32 bit) of the key's UTF-8 bytes, modulo.
  // The shifts multiply by the FNV prime 16777619 modulo 2^32 without Math.imul.
  function shardOf(key, shards) {
    var h = 0x811c9dc5, bytes = utf8(String(key)), i;
    for (i = 0; i < bytes.length; i++) {
      h ^= bytes[i];
      h += (h << 1) + (h << 4) + (h << 7) + (h << 8) + (h << 24);
    }
    return (h >>> 0) % shards;
  }

  // feeds.events.index.normalise_path: no query or fragment, percent-decoded,
  // lower-case, no leading or trailing slash.
  function normalisePath(path) {
    var text = String(path).split('#')[0].split('?')[0];
    try { text = decodeURIComponent(text); } catch (e) { /* malformed: keep as is */ }
    return text.toLowerCase().replace(/^\/+|\/+$/g, '');
  }

  // The `p:` key text of a page: its normalised path, less the shop's base path.
  function pathKey(path) {
    var text = normalisePath(path), base = C.basePath;
    if (base && (text === base || text.indexOf(base + '/') === 0)) {
      text = text.slice(base.length).replace(/^\/+/, '');
    }
    return text;
  }

  var shardCache = {};

  function indexBase() {
    var src = script && script.src, cut = src ? src.search(/\/t\/[^\/]+\/loader\.js/) : -1;
    return cut > 0 ? src.slice(0, cut) : C.base;
  }

  // The index answers only the shop's own origins (CORS, [tracking] allowed_origins):
  // on any other origin the fetch is refused and no event can name a product. Say so
  // once, naming the setting (the browser's own CORS error does not).
  var refusalShown = false;
  function indexRefused() {
    if (refusalShown || !window.console || typeof console.warn !== 'function') { return; }
    refusalShown = true;
    console.warn('vendre-feeds: the product index could not be read from ' +
      location.origin + ', so no ecommerce events are sent on this page. If this ' +
      'origin is the shop\'s (with or without www., a staging domain), add it to ' +
      '[tracking] allowed_origins in vendre-feeds.toml.');
  }

  // One shard, fetched once per page; a failure is remembered as an empty shard.
  function shard(n) {
    if (!shardCache[n]) {
      var url = indexBase() + '/t/' + encodeURIComponent(C.siteKey) + '/index/' + n +
        '.json?v=' + encodeURIComponent(C.version);
      shardCache[n] = window.fetch(url, {credentials: 'omit'}).then(function (response) {
        return response.ok ? response.json() : {};
      }).then(null, function () { indexRefused(); return {}; });
    }
    return shardCache[n];
  }

  function lookup(key) {
    if (!C.shards) { return Promise.resolve(null); }  // no index built yet
    return shard(shardOf(key, C.shards)).then(function (entries) {
      return entries && Object.prototype.hasOwnProperty.call(entries, key) ? entries[key] : null;
    });
  }

  // The entry of the first key found, in order (null when none is).
  function lookupFirst(keys) {
    var i = 0;
    function next() {
      if (i >= keys.length) { return Promise.resolve(null); }
      return lookup(keys[i++]).then(function (entry) { return entry || next(); });
    }
    return next();
  }

  // Keys for an id read from the page: a number may be a Vendre id or an article number.
  // The index keys an id read from the page may stand for. A number is ambiguous (a
  // Vendre id or a numeric article number): an id from a page object or dataLayer is
  // tried as a Vendre id first, a JSON-LD sku/mpn as an article number first, so a sku
  // that happens to equal another product's Vendre id does not name that product.
  function refKeys(ref, articleFirst) {
    if (ref === null || ref === undefined || typeof ref === 'object') { return []; }
    var text = String(ref).replace(/^\s+|\s+$/g, '');
    if (!text) { return []; }
    if (!/^\d+$/.test(text)) { return ['a:' + text]; }
    return articleFirst ? ['a:' + text, 'i:' + text] : ['i:' + text, 'a:' + text];
  }

  function toItem(entry, quantity, index) {
    return {id: entry.id, name: entry.name, price: entry.price, net_price: entry.net_price,
            currency: entry.currency, brand: entry.brand || '',
            categories: entry.categories || [], variant: entry.variant || '',
            group_id: entry.group_id || '', quantity: quantity, index: index};
  }

  function quantityOf(value) {
    var n = parseInt(value, 10);
    return n >= 1 ? n : 1;
  }

  // ------------------------------------------------------------ reading the page

  function isArray(x) { return Object.prototype.toString.call(x) === '[object Array]'; }

  // Vendre's own dataLayer (UA `ecommerce.detail` or GA4 `view_item`), newest first.
  function dataLayerProductId() {
    var dl = window.dataLayer, i, entry, e, products;
    for (i = isArray(dl) ? dl.length - 1 : -1; i >= 0; i--) {
      entry = dl[i];
      e = entry && entry.ecommerce;
      if (!e || typeof e !== 'object') { continue; }
      products = e.detail && e.detail.products;
      if (products && products[0] && products[0].id != null) { return products[0].id; }
      if ((!entry.event || entry.event === 'view_item') && e.items && e.items[0] &&
          e.items[0].item_id != null) { return e.items[0].item_id; }
    }
    return null;
  }

  function isType(node, wanted) {
    var types = isArray(node['@type']) ? node['@type'] : [node['@type']], i, t;
    for (i = 0; i < types.length; i++) {
      t = String(types[i] || '');
      if (t === wanted || t.slice(-wanted.length - 1) === '/' + wanted) { return true; }
    }
    return false;
  }

  // sku, productID, mpn (and a ProductGroup's productGroupID) of the page's JSON-LD.
  function jsonLdProductIds() {
    var refs = [], nodes = document.querySelectorAll('script[type="application/ld+json"]'), i;
    function visit(value) {
      var j;
      if (isArray(value)) { for (j = 0; j < value.length; j++) { visit(value[j]); } return; }
      if (!value || typeof value !== 'object') { return; }
      if (isType(value, 'Product') || isType(value, 'ProductGroup')) {
        refs.push(value.sku, value.productID, value.mpn, value.productGroupID);
      }
      if (value['@graph']) { visit(value['@graph']); }
    }
    for (i = 0; i < nodes.length; i++) {
      try { visit(JSON.parse(nodes[i].textContent)); } catch (e) { /* not JSON */ }
    }
    return refs;
  }

  function productKeys() {
    var refs = [], keys = [], seen = {}, i, j, found, ld;
    if (window.vendreProduct && typeof window.vendreProduct === 'object') {
      refs.push([window.vendreProduct.id, false]);
    }
    refs.push([dataLayerProductId(), false]);
    ld = jsonLdProductIds();
    for (i = 0; i < ld.length; i++) { refs.push([ld[i], true]); }
    for (i = 0; i < refs.length; i++) {
      found = refKeys(refs[i][0], refs[i][1]);
      for (j = 0; j < found.length; j++) {
        if (!seen[found[j]]) { seen[found[j]] = true; keys.push(found[j]); }
      }
    }
    return keys;
  }

  // The order the confirmation page exposes: window.vendreOrder, or Vendre's dataLayer
  // purchase (GA4 or UA shape). Lines need an id; prices are unit prices with VAT.
  function pageOrder() {
    var o = window.vendreOrder, dl = window.dataLayer, i, e, p;
    if (o && typeof o === 'object') { return o; }
    for (i = isArray(dl) ? dl.length - 1 : -1; i >= 0; i--) {
      e = dl[i] && dl[i].ecommerce;
      if (!e || typeof e !== 'object') { continue; }
      if (dl[i].event === 'purchase' && e.transaction_id != null) {
        return {id: e.transaction_id, currency: e.currency, tax: e.tax, shipping: e.shipping,
                items: mapLines(e.items, 'item_id')};
      }
      p = e.purchase;
      if (p && p.actionField && p.actionField.id != null) {
        return {id: p.actionField.id, currency: e.currencyCode, tax: p.actionField.tax,
                shipping: p.actionField.shipping, items: mapLines(p.products, 'id')};
      }
    }
    return null;
  }

  function mapLines(lines, idKey) {
    var out = [], i;
    for (i = 0; isArray(lines) && i < lines.length; i++) {
      if (lines[i]) {
        out.push({id: lines[i][idKey], quantity: lines[i].quantity, price: lines[i].price,
                  name: lines[i].item_name || lines[i].name});
      }
    }
    return out;
  }

  function number(value) {
    var n = typeof value === 'string' ? parseFloat(value.replace(',', '.')) : value;
    return typeof n === 'number' && isFinite(n) ? n : null;
  }

  // ------------------------------------------------------------ the pages

  function regex(pattern) {
    try { return pattern ? new RegExp(pattern, 'i') : null; } catch (e) { return null; }
  }

  function isHome(key) {
    if (key === '') { return true; }
    for (var i = 0; i < C.languages.length; i++) {
      if (key === C.languages[i]) { return true; }
    }
    return false;
  }

  function detect() {
    var path = window.location.pathname, confirmation = regex(C.confirmationPath),
      cart = regex(C.cartPath), keys, key = pathKey(path);
    if (confirmation && confirmation.test(path)) { return confirmationPage(); }
    if (cart && cart.test(path)) { return cartPage(); }
    keys = productKeys();
    if (!keys.length && isHome(key)) {
      status.page = 'home';
      send({name: 'view_home'});
      return Promise.resolve();
    }
    keys.push('p:' + key);
    return lookupFirst(keys).then(function (entry) {
      if (!entry) { return; }
      if (entry.items) { return categoryPage(entry); }
      productPage(entry);
    });
  }

  function productPage(entry) {
    status.page = 'product';
    send({name: 'view_item', items: [toItem(entry, 1, 0)]});
    // Add to cart: a click on the buy button adds this page's product. Listening on the
    // document (capture phase) also sees buttons added later and clicks the theme stops.
    document.addEventListener('click', guard(function (event) {
      var target = event.target, button = null, form, field;
      while (target && target.nodeType === 1 && !button) {
        if (matches(target, C.buySelector)) { button = target; }
        target = target.parentNode;
      }
      if (!button) { return; }
      form = button.form || closestForm(button);
      field = form && form.querySelector('[name="quantity"], [name="qty"]');
      send({name: 'add_to_cart', items: [toItem(entry, quantityOf(field && field.value), 0)]});
    }), true);
  }

  function matches(el, selector) {
    var fn = el.matches || el.msMatchesSelector || el.webkitMatchesSelector;
    return !!(selector && fn && fn.call(el, selector));
  }

  function closestForm(el) {
    while (el && el.nodeName !== 'FORM') { el = el.parentNode; }
    return el;
  }

  function categoryPage(entry) {
    var items = [], i;
    for (i = 0; i < entry.items.length; i++) { items.push(toItem(entry.items[i], 1, i)); }
    status.page = 'category';
    if (items.length) {
      send({name: 'view_item_list', items: items, list_id: entry.list_id,
            list_name: entry.list_name});
    }
  }

  // The cart page: items only from window.vendreCart = {items: [{id, quantity}]};
  // without them, a page-level view_cart (GTM and GA4 only).
  function cartPage() {
    var cart = window.vendreCart, lines = cart && isArray(cart.items) ? cart.items : [];
    status.page = 'cart';
    return resolveLines(lines).then(function (items) {
      send(items.length ? {name: 'view_cart', items: sameCurrency(items)} : {name: 'view_cart'});
    });
  }

  // Lines -> event items in line order (`index` = the line's position, as the Python
  // events number order lines). A cart leaves out lines the index does not know; an
  // order keeps them as the page names them (`keepUnknown`): no purchase line is dropped.
  function resolveLines(lines, keepUnknown) {
    var pending = [], i;
    for (i = 0; i < lines.length; i++) {
      pending.push(lineItem(lines[i], i, keepUnknown));
    }
    return Promise.all(pending).then(function (found) {
      var items = [], j;
      for (j = 0; j < found.length; j++) { if (found[j]) { items.push(found[j]); } }
      return items;
    });
  }

  function lineItem(line, index, keepUnknown) {
    if (!line || typeof line !== 'object') { return Promise.resolve(null); }
    return lookupFirst(refKeys(line.id)).then(function (entry) {
      if (!entry || entry.items) { return keepUnknown ? unknownLine(line, index) : null; }
      var item = toItem(entry, quantityOf(line.quantity), index), price = number(line.price);
      if (price !== null && price >= 0) {  // the price this order charged
        var net = number(line.net_price);
        item.net_price = net !== null ? round2(net)
          : (entry.price ? round2(price * entry.net_price / entry.price) : round2(price));
        item.price = round2(price);
        item.own_price = true;
      }
      return item;
    });
  }

  // An order line the index does not know (a product deleted, hidden or without a
  // price since): its id, name and the order's price, as the Python purchase keeps it.
  // Without `net_price` on the line the price stands for both.
  function unknownLine(line, index) {
    var id = line.id === null || line.id === undefined || typeof line.id === 'object' ? ''
      : String(line.id).replace(/^\s+|\s+$/g, ''),
      name = typeof line.name === 'string' ? line.name : '',
      price = number(line.price), net = number(line.net_price);
    price = price !== null && price >= 0 ? round2(price) : 0;
    return {id: id || name || 'line-' + (index + 1), name: name, price: price,
            net_price: net !== null && net >= 0 ? round2(net) : price, currency: '',
            brand: '', categories: [], variant: '', group_id: '',
            quantity: quantityOf(line.quantity), index: index, own_price: true};
  }

  function sameCurrency(items) {
    var out = [], i;
    for (i = 0; i < items.length; i++) {
      if (items[i].currency === items[0].currency) { out.push(items[i]); }
    }
    return out;
  }

  // The confirmation page: a purchase only when the page exposes the order with its
  // lines; an order number alone is not enough (purchases then come from the server).
  function confirmationPage() {
    var order = pageOrder(), id;
    status.page = 'confirmation';
    id = order && order.id != null ? String(order.id).replace(/^\s+|\s+$/g, '') : '';
    if (id) { guard(purchaseBeacon)(id); }
    if (!id || !isArray(order.items) || !order.items.length) { return Promise.resolve(); }
    return resolveLines(order.items, true).then(function (items) {
      if (!items.length) { return; }
      var currency = typeof order.currency === 'string' && /^[A-Z]{3}$/.test(order.currency)
        ? order.currency : items[0].currency, i, value = number(order.value);
      for (i = 0; i < items.length; i++) {
        if (items[i].own_price) { items[i].currency = currency; }
        if (items[i].currency !== currency) { return; }  // mixed currencies: no event
      }
      send({name: 'purchase', transaction_id: id, items: items, currency: currency,
            value: value !== null ? round2(value) : sumCents(items, true) / 100,
            tax: round2(number(order.tax) || 0), shipping: round2(number(order.shipping) || 0)});
    });
  }

  // ------------------------------------------------------------ the purchase beacon
  // With [purchases] on, the confirmation page tells the server, once and only after
  // consent, who placed the order: the GA ids (with analytics_storage) and Meta's
  // cookies (with ad_storage and ad_user_data). The server sends the order itself
  // (feeds/purchases); the beacon only joins it to this visit. Its answer is empty.

  function cookie(name) {
    var parts = document.cookie ? document.cookie.split(/;\s*/) : [], i, at;
    for (i = 0; i < parts.length; i++) {
      at = parts[i].indexOf('=');
      if (at > 0 && parts[i].slice(0, at) === name) {
        try { return decodeURIComponent(parts[i].slice(at + 1)); } catch (e) { return ''; }
      }
    }
    return '';
  }

  // `_ga` is "GA1.1.<client id>": the client id is its last two numbers.
  function gaClientId() {
    var m = /^GA\d+\.\d+\.(\d+\.\d+)$/.exec(cookie('_ga'));
    return m ? m[1] : '';
  }

  // `_ga_<stream>` holds the session id: "GS1.1.<session>.…" or "GS2.1.s<session>$o1…".
  function gaSessionId() {
    var value = C.ga4 ? cookie('_ga_' + C.ga4.replace(/^G-/, '')) : '', m;
    m = /^GS1\.\d+\.(\d+)\./.exec(value) || /^GS2\.\d+\.s(\d+)/.exec(value);
    return m ? m[1] : '';
  }

  // A Consent Mode command in the dataLayer: gtag('consent', 'default' | 'update', {...})
  // pushes its `arguments` object (or an array of the same shape).
  function consentCommand(entry, kind) {
    return !!entry && typeof entry === 'object' && entry[0] === 'consent' &&
      entry[1] === kind && !!entry[2] && typeof entry[2] === 'object';
  }

  // The Consent Mode state as the dataLayer holds it: each signal's latest update, else
  // its latest default. A default limited to some `region` may be meant for visitors
  // elsewhere, so it never grants anything here.
  function consentState() {
    var state = {ad_storage: 'denied', analytics_storage: 'denied', ad_user_data: 'denied',
                 ad_personalization: 'denied'}, updated = {}, dl = window.dataLayer,
      i, e, k, update;
    if (!C.consentMode) {  // no consent mode: the shop gates the loader itself
      for (k in state) {
        if (Object.prototype.hasOwnProperty.call(state, k)) { state[k] = 'granted'; }
      }
      return state;
    }
    for (i = 0; isArray(dl) && i < dl.length; i++) {
      e = dl[i];
      update = consentCommand(e, 'update');
      if (!update && !(consentCommand(e, 'default') && e[2].region === undefined)) {
        continue;
      }
      for (k in state) {
        if (Object.prototype.hasOwnProperty.call(state, k) && (update || !updated[k]) &&
            (e[2][k] === 'granted' || e[2][k] === 'denied')) {
          state[k] = e[2][k];
          if (update) { updated[k] = true; }
        }
      }
    }
    return state;
  }

  // Calls `fn` after consent updates pushed to the dataLayer: a banner may call
  // gtag('consent', 'update', ...) itself, for some signals, and never
  // window.vendreFeedsConsent. `fn` runs once per burst, after the current task, so a
  // banner that updates signal by signal is seen whole. GTM and gtag.js wrap
  // dataLayer.push in turn and call the push they found, so this one stays in the
  // chain whichever comes first.
  function onConsentUpdate(fn) {
    var dl = window.dataLayer, push = dl && dl.push, due = false;
    if (!isArray(dl) || typeof push !== 'function') { return; }
    dl.push = function () {
      var result = push.apply(dl, arguments), i;
      try {
        for (i = 0; i < arguments.length && !due; i++) {
          if (consentCommand(arguments[i], 'update')) {
            due = true;
            window.setTimeout(function () { due = false; fn(); }, 0);
          }
        }
      } catch (e) { /* the shop's push went through; only this look failed */ }
      return result;
    };
  }

  function purchaseBeacon(orderId) {
    if (!C.seen || !navigator.sendBeacon) { return; }
    status.beacon = 'waiting';
    var send = guard(function () {
      var consent = consentState(), body, analytics, ads;
      analytics = consent.analytics_storage === 'granted';
      ads = consent.ad_storage === 'granted' && consent.ad_user_data === 'granted';
      if (status.beacon === 'sent' || (!analytics && !ads)) { return; }
      body = {order: orderId, consent: consent,
              page_url: window.location.protocol + '//' + window.location.host +
                window.location.pathname};
      if (analytics) { body.ga_client_id = gaClientId(); body.ga_session_id = gaSessionId(); }
      if (ads) { body.fbp = cookie('_fbp'); body.fbc = cookie('_fbc'); }
      // A string goes as text/plain: a simple request, no CORS preflight.
      if (navigator.sendBeacon(indexBase() + '/t/' + encodeURIComponent(C.siteKey) + '/seen',
                               JSON.stringify(body))) {
        status.beacon = 'sent';
      }
    });
    if (C.consentMode) {
      if (window.vendreFeedsWhenGranted) { window.vendreFeedsWhenGranted(send); }
      onConsentUpdate(send);
    }
    send();  // consent mode off, or a banner that decided before the loader ran
  }

  // ------------------------------------------------------------ start

  function whenReady(fn) {
    if (document.readyState === 'loading') {
      document.addEventListener('DOMContentLoaded', guard(fn));
    } else {
      fn();
    }
  }

  // Finds the page and sends its events; `done` is set however that ends.
  function start() {
    try {
      detect().then(finish, finish);
    } catch (e) {
      finish();
    }
  }

  try {
    setUpConsent();
    loadTags();
    if (typeof window.Promise !== 'function' || typeof window.fetch !== 'function' ||
        !(C.gtm || C.ga4 || C.meta || C.criteo)) {
      finish();  // nothing to send, or a browser too old to look anything up
    } else {
      // JSON-LD and page objects may come later in the page than this script.
      whenReady(start);
    }
  } catch (e) {
    finish();
  }
})(window, document);
