// The queue updates by itself: every few seconds it fetches its live part (counts, banner, rows)
// and swaps it in. An emergency or urgent referral that was not there before is announced: a
// banner read out at once (role=alert), and the page title, until dismissed. Without JavaScript
// the page reloads itself instead (<noscript> refresh) and the server-drawn banner still shows.
(function () {
  const live = document.getElementById("queue-live");
  const arrivals = document.getElementById("arrivals");
  if (!live || !arrivals) return;
  const seconds = Number(live.dataset.pollSeconds || "0");
  if (!seconds) return;
  const baseTitle = document.title;
  // "id:urgency id:urgency": the emergency and urgent referrals no one has claimed yet.
  const alerts = (root) => {
    const state = root.querySelector("#queue-state");
    const pairs = state && state.dataset.alerts ? state.dataset.alerts.split(" ").filter(Boolean) : [];
    return pairs.map((pair) => pair.split(":"));
  };
  const ids = (root) => alerts(root).map(([id]) => id);
  let known = new Set(ids(document));
  let announced = 0;

  function announce(fresh, root) {
    announced += fresh.length;
    const urgencies = new Map(alerts(root));
    const links = fresh.map((id) => {
      const urgency = (urgencies.get(id) || "urgent").replace("_", " ");
      return '<a href="/ui/referrals/' + encodeURIComponent(id) + '">New ' + urgency + " referral</a>";
    });
    arrivals.innerHTML = links.join(", ") + ' <button type="button" id="dismiss">Dismiss</button>';
    document.title = "(" + announced + " new) " + baseTitle;
    document.getElementById("dismiss").addEventListener("click", () => {
      arrivals.textContent = "";
      announced = 0;
      document.title = baseTitle;
    });
  }

  async function poll() {
    try {
      const answer = await fetch(live.dataset.pollUrl, { credentials: "same-origin", headers: { Accept: "text/html" } });
      if (answer.redirected || !answer.ok) return; // logged out, or the server is away: try again later
      const holder = document.createElement("div");
      holder.innerHTML = await answer.text();
      const now = ids(holder);
      const fresh = now.filter((id) => !known.has(id));
      live.replaceChildren(...holder.childNodes);
      known = new Set([...known, ...now]);
      if (fresh.length) announce(fresh, live);
    } catch (e) {
      // the network is away: the next poll tries again
    } finally {
      setTimeout(poll, seconds * 1000);
    }
  }
  setTimeout(poll, seconds * 1000);
})();
