// The project page's gallery, made quicker to use: the next page of parts
// is loaded as one scrolls near the end, the filter narrows the gallery as
// one types, the cataloguing notice and gallery follow the catalogue while
// it works, and a long README is folded. Without this script the page
// works with its links and its filter form.

const parts = document.getElementById('parts');
const readme = document.querySelector('.readme');

async function fetchPage(url) {
  const res = await fetch(url, { headers: { Accept: 'text/html' } });
  if (!res.ok) throw new Error(`HTTP ${res.status}`);
  return new DOMParser().parseFromString(await res.text(), 'text/html');
}

// replaceGallery puts the gallery of another rendering of the page in
// place of this one's, keeping the filter box (and its focus) as it is.
function replaceGallery(doc) {
  const fresh = doc.getElementById('parts');
  if (!parts || !fresh) return;
  const head = parts.querySelector('.parts-head');
  for (const el of [...parts.children]) if (el !== head) el.remove();
  for (const el of [...fresh.children]) if (!el.classList.contains('parts-head')) parts.appendChild(el);
  const count = fresh.querySelector('#parts-h .muted');
  const mine = parts.querySelector('#parts-h .muted');
  if (count && mine) mine.textContent = count.textContent;
  watchPager();
}

// Loading the next page as one scrolls.
let observer;
let loading = false;
function watchPager() {
  if (!parts || !('IntersectionObserver' in window)) return;
  if (observer) observer.disconnect();
  const next = parts.querySelector('.parts-pager a[rel=next]');
  if (!next) return;
  observer = new IntersectionObserver((entries) => {
    if (entries.some((e) => e.isIntersecting)) loadMore(next);
  }, { rootMargin: '600px 0px' });
  observer.observe(next);
}

async function loadMore(link) {
  if (loading) return;
  loading = true;
  try {
    const doc = await fetchPage(link.href);
    const groups = parts.querySelector('.part-groups');
    const more = doc.querySelector('#parts .part-groups');
    if (!groups || !more) return;
    for (const g of [...more.children]) {
      const last = groups.lastElementChild;
      if (last && last.dataset.folder === g.dataset.folder) {
        // The folder goes on from the previous page: one group.
        last.querySelector('ul').append(...g.querySelector('ul').children);
      } else {
        groups.appendChild(g);
      }
    }
    const to = doc.querySelector('#parts .range-to');
    const mine = parts.querySelector('.range-to');
    if (to && mine) mine.textContent = to.textContent;
    const pager = parts.querySelector('.parts-pager');
    const fresh = doc.querySelector('#parts .parts-pager');
    const next = fresh && fresh.querySelector('a[rel=next]');
    if (next) {
      pager.replaceChildren(next);
    } else {
      pager.remove();
    }
    watchPager();
  } catch (err) {
    // The pager's link still works.
  } finally {
    loading = false;
  }
}

// Filtering as one types.
const input = document.getElementById('parts-q');
let typed = 0;
if (input) {
  let timer;
  input.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(filter, 250);
  });
}

async function filter() {
  const form = input.form;
  const url = new URL(form.action, location.href);
  url.hash = '';
  const params = new URLSearchParams();
  for (const [k, v] of new FormData(form)) if (v !== '') params.set(k, v);
  url.search = params.toString();
  const seq = ++typed;
  try {
    const doc = await fetchPage(url);
    if (seq !== typed) return; // a later keystroke won
    replaceGallery(doc);
    history.replaceState(null, '', url.pathname + url.search + '#parts');
  } catch (err) {
    // Submitting the form still works.
  }
}

// Following the catalogue while it works.
async function follow() {
  try {
    const doc = await fetchPage(location.href);
    const fresh = doc.getElementById('catalog-status');
    const status = document.getElementById('catalog-status');
    if (fresh && status) status.replaceWith(fresh);
    const about = doc.querySelector('.project-about');
    const mine = document.querySelector('.project-about');
    if (about && mine) mine.replaceWith(about);
    const head = doc.querySelector('.project-head');
    const myHead = document.querySelector('.project-head');
    if (head && myHead) {
      myHead.dataset.catalog = head.dataset.catalog;
      myHead.dataset.pending = head.dataset.pending;
    }
    // Only the first page of an unfiltered gallery follows, so as not to
    // pull the page from under someone reading further down.
    if (!input || input.value === '') {
      if (parts && parts.querySelectorAll('.part-card').length <= 60) replaceGallery(doc);
    }
    if (fresh && fresh.dataset.pending === 'true') {
      setTimeout(follow, 2000);
    }
  } catch (err) {
    setTimeout(follow, 5000);
  }
}
if (document.getElementById('catalog-status')?.dataset.pending === 'true') setTimeout(follow, 2000);

// Folding a long README.
if (readme) {
  const text = readme.querySelector('.markdown');
  const more = readme.querySelector('.readme-more');
  if (text && more && text.scrollHeight > 720) {
    readme.classList.add('folded');
    more.hidden = false;
    more.querySelector('button').addEventListener('click', () => {
      readme.classList.remove('folded');
      more.hidden = true;
    });
  }
}

watchPager();
