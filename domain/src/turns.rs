//! Who speaks next: `@Name` mentions and round-robin order.

use uuid::Uuid;

use crate::rooms::Agent;

/// The active agent named by an `@Name` mention in `text`, if any. Names match case-insensitively
/// and must end at a word boundary; with several mentions the first one in the text wins, and
/// the longest matching name wins at one position (`@Ada Lovelace` over `@Ada`).
pub fn mentioned_agent<'a>(text: &str, agents: &'a [Agent]) -> Option<&'a Agent> {
    let lower = text.to_lowercase();
    let mut best: Option<(usize, usize, &Agent)> = None;
    for agent in agents.iter().filter(|a| a.is_active) {
        let needle = format!("@{}", agent.name.to_lowercase());
        let mut from = 0;
        while let Some(found) = lower[from..].find(&needle) {
            let start = from + found;
            let end = start + needle.len();
            let at_boundary = lower[end..].chars().next().is_none_or(|c| !c.is_alphanumeric() && c != '_');
            let starts_word = lower[..start].chars().next_back().is_none_or(|c| !c.is_alphanumeric());
            if at_boundary && starts_word {
                let better = match best {
                    None => true,
                    Some((best_start, best_len, _)) => start < best_start || (start == best_start && needle.len() > best_len),
                };
                if better {
                    best = Some((start, needle.len(), agent));
                }
                break;
            }
            from = start + 1;
        }
    }
    best.map(|(_, _, agent)| agent)
}

/// The next active agent in round-robin order (the order agents were added) after the one who
/// spoke last, never the last speaker itself unless it is the only active agent.
pub fn next_in_rotation<'a>(agents: &'a [Agent], last_speaker: Option<Uuid>) -> Option<&'a Agent> {
    let active: Vec<&Agent> = agents.iter().filter(|a| a.is_active).collect();
    if active.is_empty() {
        return None;
    }
    let Some(last) = last_speaker else { return active.first().copied() };
    match agents.iter().position(|a| a.id == last) {
        // Continue after the last speaker's place, even if it has since been deactivated.
        Some(position) => agents[position + 1..]
            .iter()
            .chain(agents[..position].iter())
            .find(|a| a.is_active)
            .or_else(|| active.first().copied()),
        None => active.first().copied(),
    }
}

/// Why a speaker was chosen, as recorded on its message.
#[derive(Debug, Clone, PartialEq)]
pub enum Selection<'a> {
    Mentioned(&'a Agent),
    Rotation(&'a Agent),
}

impl<'a> Selection<'a> {
    pub fn agent(&self) -> &'a Agent {
        match self {
            Selection::Mentioned(agent) | Selection::Rotation(agent) => agent,
        }
    }

    pub fn reason(&self, last_speaker_name: Option<&str>) -> String {
        match (self, last_speaker_name) {
            (Selection::Mentioned(agent), _) => format!("Mentioned as @{}.", agent.name),
            (Selection::Rotation(_), Some(last)) => format!("Next in rotation after {last}."),
            (Selection::Rotation(_), None) => "First in rotation.".to_owned(),
        }
    }
}

/// Picks who answers `text`: a mentioned agent, otherwise the next in rotation.
pub fn choose_responder<'a>(text: &str, agents: &'a [Agent], last_speaker: Option<Uuid>) -> Option<Selection<'a>> {
    if let Some(agent) = mentioned_agent(text, agents) {
        return Some(Selection::Mentioned(agent));
    }
    next_in_rotation(agents, last_speaker).map(Selection::Rotation)
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;

    fn agents(names: &[&str]) -> Vec<Agent> {
        names
            .iter()
            .enumerate()
            .map(|(i, name)| Agent {
                id: Uuid::from_u128(i as u128 + 1),
                room_id: Uuid::nil(),
                name: (*name).to_owned(),
                model: "demo".into(),
                system_prompt: String::new(),
                temperature: 0.7,
                is_active: true,
                created_at: Utc::now(),
            })
            .collect()
    }

    #[test]
    fn mentions_pick_the_named_agent() {
        let team = agents(&["Ada", "Ada Lovelace", "Bob"]);
        assert_eq!(mentioned_agent("hey @bob, thoughts?", &team).unwrap().name, "Bob");
        assert_eq!(mentioned_agent("@Ada Lovelace please", &team).unwrap().name, "Ada Lovelace");
        assert_eq!(mentioned_agent("@Ada please", &team).unwrap().name, "Ada");
        assert!(mentioned_agent("@Bobby no", &team).is_none(), "names end at a word boundary");
        assert!(mentioned_agent("mail bob@example.com", &team).is_none());
        assert_eq!(mentioned_agent("@Bob then @Ada", &team).unwrap().name, "Bob", "the first mention wins");
    }

    #[test]
    fn mentions_ignore_inactive_agents() {
        let mut team = agents(&["Ada", "Bob"]);
        team[1].is_active = false;
        assert!(mentioned_agent("@Bob?", &team).is_none());
    }

    #[test]
    fn rotation_skips_the_last_speaker() {
        let team = agents(&["A", "B", "C"]);
        assert_eq!(next_in_rotation(&team, None).unwrap().name, "A");
        assert_eq!(next_in_rotation(&team, Some(team[0].id)).unwrap().name, "B");
        assert_eq!(next_in_rotation(&team, Some(team[2].id)).unwrap().name, "A");
    }

    #[test]
    fn rotation_skips_inactive_agents_and_keeps_a_lone_agent() {
        let mut team = agents(&["A", "B", "C"]);
        team[1].is_active = false;
        assert_eq!(next_in_rotation(&team, Some(team[0].id)).unwrap().name, "C");
        // The last speaker was deactivated: continue after its place.
        assert_eq!(next_in_rotation(&team, Some(team[1].id)).unwrap().name, "C");
        let lone = agents(&["Solo"]);
        assert_eq!(next_in_rotation(&lone, Some(lone[0].id)).unwrap().name, "Solo");
        assert!(next_in_rotation(&[], None).is_none());
    }

    #[test]
    fn responder_prefers_a_mention_and_explains_itself() {
        let team = agents(&["A", "B"]);
        let chosen = choose_responder("@A again", &team, Some(team[0].id)).unwrap();
        assert_eq!(chosen.agent().name, "A");
        assert_eq!(chosen.reason(Some("A")), "Mentioned as @A.");
        let chosen = choose_responder("hello", &team, Some(team[0].id)).unwrap();
        assert_eq!(chosen.agent().name, "B");
        assert_eq!(chosen.reason(Some("A")), "Next in rotation after A.");
    }
}
