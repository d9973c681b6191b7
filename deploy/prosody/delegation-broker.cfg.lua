-- Prosody 0.12 + prosody-modules: hand PEP (and MAM on PEP nodes) to delegation-broker.
-- Include from prosody.cfg.lua (Include "conf.d/delegation-broker.cfg.lua") and adapt the domain.
-- "delegation" and "privilege" must be enabled globally AND on the component.
modules_enabled = { "roster", "saslauth", "disco", "ping", "delegation", "privilege" }

VirtualHost "example.org"
  -- Prosody's own mod_pep must not be loaded on this host: the broker serves PEP.
  modules_disabled = { "pep" }
  delegations = {
    ["http://jabber.org/protocol/pubsub"] = { jid = "pubsub.example.org" };
    ["http://jabber.org/protocol/pubsub#owner"] = { jid = "pubsub.example.org" };
    ["urn:xmpp:mam:2"] = { jid = "pubsub.example.org"; filtering = { "node" } };
    ["urn:xmpp:delegation:2:bare:disco#info:*"] = { jid = "pubsub.example.org" };
    ["urn:xmpp:delegation:2:bare:disco#items:*"] = { jid = "pubsub.example.org" };
  }
  privileged_entities = {
    ["pubsub.example.org"] = { roster = "get"; message = "outgoing"; presence = "roster" };
  }

Component "pubsub.example.org"
  component_secret = "change-me" -- XMPP_SECRET of the broker
  modules_enabled = { "delegation", "privilege" }
