//! The agents of a room: add one, edit a persona, deactivate or reactivate it. Only the room's
//! owners change them; everyone else reads who is there. Every form here is a plain form post
//! until the island hydrates, then acts in place, starting from what was typed meanwhile.

use domain::proposals::AgentTool;
use domain::rooms::{default_temperature, limits, Agent, CreateAgent, UpdateAgent};
use leptos::prelude::*;
use leptos::task::spawn_local;

use leptos::server_fn::ServerFn;
use uuid::Uuid;

use super::api::plain::{form, AddAgentForm, EditAgentForm};
use super::api::{add_agent, edit_agent};
use super::state::RoomState;
use crate::forms::{is_checked, typed_value, Notice};

/// Suggestions for the model field; any provider-prefixed name is accepted.
const MODEL_SUGGESTIONS: &[&str] =
    &["demo", "gpt-4o-mini", "gpt-4o", "gpt-4.1-mini", "azure:", "qwen:qwen-plus", "qwen:qwen-max"];

/// `notice` is what a plain post of one of its forms was refused, if one was.
#[component]
pub fn AgentsPanel(state: RoomState, notice: Option<Notice>) -> impl IntoView {
    let refusal = StoredValue::new(notice.filter(|n| n.form.starts_with("agent-") || n.form == form::NEW_AGENT));
    let refusal_for =
        move |form: &str| refusal.with_value(|n| n.as_ref().filter(|n| n.form == form).and_then(|n| n.error.clone()));
    let active_count = move || state.agents.with(|agents| agents.iter().filter(|a| a.is_active).count());

    view! {
        <aside class="agents-panel" aria-label="Agents">
            <h2>"Agents"</h2>
            <p class="hint">
                {move || format!("{} of {} active", active_count(), limits::MAX_ACTIVE_AGENTS)}
                <Show when=move || state.demo_mode.get()>
                    " · "
                    <span class="badge badge--demo" title="No provider is configured: agents answer with the offline demo model.">
                        "demo mode"
                    </span>
                </Show>
            </p>
            <datalist id="model-suggestions">
                {MODEL_SUGGESTIONS.iter().map(|m| view! { <option value=*m></option> }).collect_view()}
            </datalist>
            <ul class="agent-list">
                <For each=move || state.agents.get() key=|agent| (agent.id, agent.name.clone(), agent.is_active, agent.model.clone(), agent.system_prompt.len(), agent.temperature.to_bits()) let:agent>
                    <AgentCard state refusal=refusal_for(&form::agent(agent.id)) agent />
                </For>
            </ul>
            <Show
                when=move || state.access.with(|access| access.manage)
                fallback=|| view! { <p class="hint">"Only the room's owners change its agents."</p> }
            >
                <NewAgentForm state refusal=refusal_for(form::NEW_AGENT) />
            </Show>
        </aside>
    }
}

#[component]
fn AgentCard(state: RoomState, agent: Agent, refusal: Option<String>) -> impl IntoView {
    let error = RwSignal::new(refusal);
    let busy = RwSignal::new(false);
    let agent_id = agent.id;
    let is_active = agent.is_active;
    let editor = NodeRef::<leptos::html::Details>::new();

    let toggle = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        busy.set(true);
        spawn_local(async move {
            let change = UpdateAgent { is_active: Some(!is_active), ..UpdateAgent::default() };
            match edit_agent(state.room_id, agent_id, change).await {
                Ok(updated) => {
                    error.set(None);
                    state.upsert_agent(updated);
                }
                Err(e) => error.set(Some(e.message)),
            }
            busy.set(false);
        });
    };

    let values = AgentFields::from_agent(&agent);
    let excerpt: String = agent.system_prompt.chars().take(140).collect();
    let truncated = agent.system_prompt.chars().count() > 140;

    view! {
        <li class="agent-card" class:inactive=!is_active data-agent-name=agent.name.clone()>
            <div class="agent-summary">
                <strong class="agent-name">{agent.name.clone()}</strong>
                <span class="badge">{agent.model.clone()}</span>
                <span class="badge">{format!("t = {}", crate::numbers::decimal(agent.temperature, 1))}</span>
                {(!is_active).then(|| view! { <span class="badge badge--warning">"inactive"</span> })}
            </div>
            <p class="agent-prompt">
                {if excerpt.is_empty() { "No system prompt.".to_owned() } else { excerpt }}
                {truncated.then_some("…")}
            </p>
            <Show when=move || state.access.with(|access| access.manage)>
                <div class="agent-actions">
                    // A disclosure the browser opens by itself, so editing needs no script.
                    <details class="agent-edit" node_ref=editor>
                        <summary>"Edit"</summary>
                        <AgentForm
                            id_prefix=format!("agent-{agent_id}")
                            action=EditAgentForm::url()
                            agent_id=Some(agent_id)
                            room_id=state.room_id
                            initial=values.clone()
                            submit_label="Save"
                            on_submit=Callback::new(move |fields: AgentFields| {
                                let change = match fields.to_update() {
                                    Ok(change) => change,
                                    Err(message) => {
                                        error.set(Some(message));
                                        return;
                                    }
                                };
                                spawn_local(async move {
                                    match edit_agent(state.room_id, agent_id, change).await {
                                        Ok(updated) => {
                                            error.set(None);
                                            if let Some(editor) = editor.get_untracked() {
                                                editor.set_open(false);
                                            }
                                            state.upsert_agent(updated);
                                        }
                                        Err(e) => error.set(Some(e.message)),
                                    }
                                });
                            })
                        />
                    </details>
                    <form method="post" action=EditAgentForm::url() on:submit=toggle>
                        <input type="hidden" name="room_id" value=state.room_id.to_string() />
                        <input type="hidden" name="agent_id" value=agent_id.to_string() />
                        <input type="hidden" name="is_active" value=(!is_active).to_string() />
                        <button type="submit" disabled=move || busy.get()>
                            {if is_active { "Deactivate" } else { "Activate" }}
                        </button>
                    </form>
                </div>
            </Show>
            {move || error.get().map(|e| view! { <p class="error-banner" role="alert">{e}</p> })}
        </li>
    }
}

#[component]
fn NewAgentForm(state: RoomState, refusal: Option<String>) -> impl IntoView {
    let error = RwSignal::new(refusal);
    let version = RwSignal::new(0u32);
    let initial = move || AgentFields {
        name: String::new(),
        system_prompt: String::new(),
        model: if state.demo_mode.get_untracked() { "demo".to_owned() } else { "gpt-4o-mini".to_owned() },
        temperature: crate::numbers::decimal(default_temperature(), 1),
        may_propose_tasks: false,
    };

    view! {
        <section class="new-agent">
            <h3>"Add an agent"</h3>
            // Re-created after each success so the fields start empty again.
            {move || {
                version.get();
                view! {
                    <AgentForm
                        id_prefix="new-agent".to_owned()
                        action=AddAgentForm::url()
                        agent_id=None
                        room_id=state.room_id
                        initial=initial()
                        submit_label="Add agent"
                        on_submit=Callback::new(move |fields: AgentFields| {
                            let input = match fields.to_create() {
                                Ok(input) => input,
                                Err(message) => {
                                    error.set(Some(message));
                                    return;
                                }
                            };
                            spawn_local(async move {
                                match add_agent(state.room_id, input).await {
                                    Ok(agent) => {
                                        error.set(None);
                                        state.upsert_agent(agent);
                                        version.update(|v| *v += 1);
                                    }
                                    Err(e) => error.set(Some(e.message)),
                                }
                            });
                        })
                    />
                }
            }}
            {move || error.get().map(|e| view! { <p class="error-banner" role="alert">{e}</p> })}
        </section>
    }
}

/// The form's values as typed.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentFields {
    pub name: String,
    pub system_prompt: String,
    pub model: String,
    pub temperature: String,
    /// The `propose_task` tool.
    pub may_propose_tasks: bool,
}

impl AgentFields {
    fn from_agent(agent: &Agent) -> Self {
        Self {
            name: agent.name.clone(),
            system_prompt: agent.system_prompt.clone(),
            model: agent.model.clone(),
            temperature: crate::numbers::trimmed(agent.temperature, 3),
            may_propose_tasks: agent.tools.contains(&AgentTool::ProposeTask),
        }
    }

    fn tools(&self) -> Vec<AgentTool> {
        if self.may_propose_tasks {
            vec![AgentTool::ProposeTask]
        } else {
            Vec::new()
        }
    }

    fn temperature(&self) -> Result<f64, String> {
        self.temperature.trim().parse::<f64>().map_err(|_| "Temperature must be a number from 0 to 2.".to_owned())
    }

    fn to_create(&self) -> Result<CreateAgent, String> {
        Ok(CreateAgent {
            name: self.name.clone(),
            model: self.model.clone(),
            system_prompt: self.system_prompt.clone(),
            temperature: self.temperature()?,
            tools: self.tools(),
        })
    }

    fn to_update(&self) -> Result<UpdateAgent, String> {
        Ok(UpdateAgent {
            name: Some(self.name.clone()),
            model: Some(self.model.clone()),
            system_prompt: Some(self.system_prompt.clone()),
            temperature: Some(self.temperature()?),
            is_active: None,
            tools: Some(self.tools()),
        })
    }
}

/// A persona's fields. Posted by the browser to `action` until the island hydrates; after that
/// `on_submit` gets them, starting from whatever was typed before.
#[component]
fn AgentForm(
    id_prefix: String,
    action: &'static str,
    room_id: Uuid,
    agent_id: Option<Uuid>,
    initial: AgentFields,
    submit_label: &'static str,
    on_submit: Callback<AgentFields>,
) -> impl IntoView {
    let id = move |field: &str| format!("{id_prefix}-{field}");
    let typed =
        |field: &str, initial: &String| RwSignal::new(typed_value(&id(field)).unwrap_or_else(|| initial.clone()));
    let name = typed("name", &initial.name);
    let prompt = typed("prompt", &initial.system_prompt);
    let model = typed("model", &initial.model);
    let temperature = typed("temperature", &initial.temperature);

    view! {
        <form
            class="agent-form"
            method="post"
            action=action
            on:submit=move |ev| {
                ev.prevent_default();
                on_submit.run(AgentFields {
                    name: name.get_untracked(),
                    system_prompt: prompt.get_untracked(),
                    model: model.get_untracked(),
                    temperature: temperature.get_untracked(),
                    may_propose_tasks: is_checked(&id("propose")),
                });
            }
        >
            <input type="hidden" name="room_id" value=room_id.to_string() />
            {agent_id.map(|agent_id| view! { <input type="hidden" name="agent_id" value=agent_id.to_string() /> })}
            <div class="field">
                <label for=id("name")>"Agent name"</label>
                <input
                    id=id("name")
                    name="name"
                    required
                    maxlength=limits::NAME_MAX_CHARS
                    value=initial.name
                    prop:value=move || name.get()
                    on:input:target=move |ev| name.set(ev.target().value())
                />
            </div>
            <div class="field">
                <label for=id("prompt")>"System prompt"</label>
                <textarea
                    id=id("prompt")
                    name="system_prompt"
                    rows="3"
                    maxlength=limits::SYSTEM_PROMPT_MAX_CHARS
                    placeholder="Who is this agent? How does it speak?"
                    prop:value=move || prompt.get()
                    on:input:target=move |ev| prompt.set(ev.target().value())
                >
                    {initial.system_prompt}
                </textarea>
            </div>
            <div class="field-row">
                <div class="field">
                    <label for=id("model")>"Model"</label>
                    <input
                        id=id("model")
                        name="model"
                        required
                        list="model-suggestions"
                        maxlength=limits::MODEL_MAX_CHARS
                        value=initial.model
                        prop:value=move || model.get()
                        on:input:target=move |ev| model.set(ev.target().value())
                    />
                </div>
                <div class="field">
                    <label for=id("temperature")>"Temperature"</label>
                    <input
                        id=id("temperature")
                        name="temperature"
                        type="number"
                        min="0"
                        max="2"
                        step="0.1"
                        required
                        value=initial.temperature
                        prop:value=move || temperature.get()
                        on:input:target=move |ev| temperature.set(ev.target().value())
                    />
                </div>
            </div>
            // Tells the edit action that this form carries the checkbox, which browsers leave out
            // when it is not ticked. The box itself is the browser's own: it is read on submit.
            {agent_id.map(|_| view! { <input type="hidden" name="tools_field" value="1" /> })}
            <label class="checkbox field">
                <input
                    type="checkbox"
                    id=id("propose")
                    name="may_propose_tasks"
                    value="on"
                    checked=initial.may_propose_tasks
                />
                " Tools: may propose tasks (a person with the right confirms each)"
            </label>
            <div class="form-actions">
                <button type="submit" class="primary">{submit_label}</button>
            </div>
        </form>
    }
}
