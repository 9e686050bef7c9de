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
                    Some((best_start, best_len, _)) => {
                        start < best_start || (start == best_start && needle.len() > best_len)
                    }
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
pub fn next_in_rotation(agents: &[Agent], last_speaker: Option<Uuid>) -> Option<&Agent> {
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

    pub(super) fn agents(names: &[&str]) -> Vec<Agent> {
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
                tools: Vec::new(),
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

/// What the run orchestrator knows when it picks the next speaker.
#[derive(Debug, Clone)]
pub struct RunTurnView<'a, 's> {
    pub agents: &'a [Agent],
    /// The newest message of the room: who wrote it (an agent's id, or `None` for a person) and its text.
    pub last_message: Option<(Option<Uuid>, &'s str, &'s str)>,
    /// The agent who spoke last.
    pub last_agent: Option<Uuid>,
    /// The step at which each agent last spoke in this run.
    pub spoke_at: &'s [(Uuid, i64)],
    /// The step about to be taken (0 for the first).
    pub step: i64,
    /// How many other turns an agent must wait before speaking again.
    pub cooldown_turns: i64,
}

/// Picks the next speaker of an auto-dialogue run and says why: a mention in the newest message
/// unless that agent is cooling down, otherwise round-robin order skipping the last speaker and
/// anyone cooling down. When cooldown leaves nobody, the agent who has waited longest speaks.
pub fn choose_run_speaker<'a>(view: &RunTurnView<'a, '_>) -> Option<(&'a Agent, String)> {
    let active: Vec<&Agent> = view.agents.iter().filter(|a| a.is_active).collect();
    if active.is_empty() {
        return None;
    }
    let last_spoke = |agent: &Agent| view.spoke_at.iter().find(|(id, _)| *id == agent.id).map(|(_, step)| *step);
    let cooling = |agent: &Agent| last_spoke(agent).is_some_and(|at| view.step - at <= view.cooldown_turns);
    let last_name = view.last_agent.and_then(|id| view.agents.iter().find(|a| a.id == id)).map(|a| a.name.as_str());
    let answering = match view.last_message {
        Some((None, author, _)) => Some(format!("Answering {author}; ")),
        _ => None,
    };
    let prefix = answering.unwrap_or_default();

    let mut note = String::new();
    if let Some((author_id, author, text)) = view.last_message {
        if let Some(mentioned) = mentioned_agent(text, view.agents) {
            // An agent cannot answer its own mention; anyone else's mention wins unless cooling down.
            if !cooling(mentioned) && Some(mentioned.id) != author_id {
                let reason = format!("{prefix}mentioned as @{} by {author}.", mentioned.name);
                return Some((mentioned, capitalize(&reason)));
            }
            note = format!("@{} was mentioned but is cooling down; ", mentioned.name);
        }
    }

    let start = view.last_agent.and_then(|id| view.agents.iter().position(|a| a.id == id));
    let order: Vec<&Agent> = match start {
        Some(position) => view.agents[position + 1..].iter().chain(view.agents[..=position].iter()).collect(),
        None => view.agents.iter().collect(),
    };
    let eligible = order.iter().copied().find(|a| a.is_active && Some(a.id) != view.last_agent && !cooling(a));
    let reason_tail = |agent: &Agent| match last_name {
        Some(last) => format!("next in rotation after {last}."),
        None => {
            let _ = agent;
            "first in rotation.".to_owned()
        }
    };
    if let Some(agent) = eligible {
        return Some((agent, capitalize(&format!("{prefix}{note}{}", reason_tail(agent)))));
    }
    // Everyone else is cooling down: the one who has waited longest goes next.
    let waited_longest = active
        .iter()
        .copied()
        .filter(|a| Some(a.id) != view.last_agent || active.len() == 1)
        .min_by_key(|a| last_spoke(a).unwrap_or(i64::MIN))?;
    Some((
        waited_longest,
        capitalize(&format!("{prefix}{note}everyone is cooling down; {} has waited longest.", waited_longest.name)),
    ))
}

fn capitalize(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod run_tests {

    use super::*;

    fn team(names: &[&str]) -> Vec<Agent> {
        super::tests::agents(names)
    }

    /// Simulates `steps` turns with no mentions and returns who spoke.
    fn simulate(agents: &[Agent], steps: i64, cooldown: i64) -> Vec<String> {
        let mut spoke_at: Vec<(Uuid, i64)> = Vec::new();
        let mut last: Option<Uuid> = None;
        let mut names = Vec::new();
        for step in 0..steps {
            let last_message = last.map(|id| (Some(id), "someone", "plain words"));
            let view = RunTurnView {
                agents,
                last_message,
                last_agent: last,
                spoke_at: &spoke_at,
                step,
                cooldown_turns: cooldown,
            };
            let (agent, _) = choose_run_speaker(&view).unwrap();
            spoke_at.retain(|(id, _)| *id != agent.id);
            spoke_at.push((agent.id, step));
            last = Some(agent.id);
            names.push(agent.name.clone());
        }
        names
    }

    #[test]
    fn two_agents_alternate() {
        let agents = team(&["A", "B"]);
        assert_eq!(simulate(&agents, 6, 1), vec!["A", "B", "A", "B", "A", "B"]);
    }

    #[test]
    fn three_agents_rotate_and_cooldown_holds() {
        let agents = team(&["A", "B", "C"]);
        assert_eq!(simulate(&agents, 6, 2), vec!["A", "B", "C", "A", "B", "C"]);
    }

    #[test]
    fn a_mention_picks_the_agent_unless_it_is_cooling_down() {
        let agents = team(&["A", "B", "C"]);
        // A spoke at step 0, B at step 1 and mentions A; with a cooldown of 2, A must wait.
        let spoke_at = [(agents[0].id, 0), (agents[1].id, 1)];
        let view = RunTurnView {
            agents: &agents,
            last_message: Some((Some(agents[1].id), "B", "what do you say, @A?")),
            last_agent: Some(agents[1].id),
            spoke_at: &spoke_at,
            step: 2,
            cooldown_turns: 2,
        };
        let (agent, reason) = choose_run_speaker(&view).unwrap();
        assert_eq!(agent.name, "C");
        assert_eq!(reason, "@A was mentioned but is cooling down; next in rotation after B.");

        // With a cooldown of 1, A may answer the mention.
        let view = RunTurnView { cooldown_turns: 1, ..view };
        let (agent, reason) = choose_run_speaker(&view).unwrap();
        assert_eq!(agent.name, "A");
        assert_eq!(reason, "Mentioned as @A by B.");
    }

    #[test]
    fn a_person_cutting_in_is_answered() {
        let agents = team(&["A", "B"]);
        let spoke_at = [(agents[0].id, 0)];
        let view = RunTurnView {
            agents: &agents,
            last_message: Some((None, "Guest", "@A, wait, please reconsider")),
            last_agent: Some(agents[0].id),
            spoke_at: &spoke_at,
            step: 1,
            cooldown_turns: 0,
        };
        let (agent, reason) = choose_run_speaker(&view).unwrap();
        assert_eq!(agent.name, "A", "cooldown 0 lets the mentioned agent answer the person");
        assert_eq!(reason, "Answering Guest; mentioned as @A by Guest.");
        let plain = RunTurnView { last_message: Some((None, "Guest", "hold on")), ..view };
        let (agent, reason) = choose_run_speaker(&plain).unwrap();
        assert_eq!(agent.name, "B");
        assert_eq!(reason, "Answering Guest; next in rotation after A.");
    }

    #[test]
    fn an_oversized_cooldown_still_lets_someone_speak() {
        let agents = team(&["A", "B"]);
        assert_eq!(simulate(&agents, 4, 10), vec!["A", "B", "A", "B"]);
    }
}
