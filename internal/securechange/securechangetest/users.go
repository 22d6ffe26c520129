package securechangetest

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
)

// The users API: GET users/{id} answers a user or a group, as SecureChange does (pytos
// Secure_Change_Helper.get_sc_user_by_id reads the answer's root element, "user" or
// "group"; pytos2 tells them apart by "@xsi.type" too). A user:
//
//	{"user":{"@xsi.type":"user","id":45,"name":"r.smith","display_name":…,"email":…}}
//
// A group has members (pytos Group.members: Members of Member_User, each an id, a name
// and a link), and an e-mail only when one was configured for the group:
//
//	{"group":{"@xsi.type":"group","id":49,"name":"Approvers","email":"",
//	  "members":{"user":[{"@xsi.type":"user","id":45,"name":"r.smith","link":{…}}]}}}
//
// "members" holds one member as an object, more as an array, like every SecureChange
// collection; a member may be a group itself.

// PutUser stores user id (digits) with name and e-mail address ("" for none).
func (s *Server) PutUser(id, name, email string) {
	s.putParty(id, "user", map[string]any{
		"@xsi.type": "user", "id": number(id), "name": name, "display_name": name, "email": email,
	})
}

// PutGroup stores group id (digits) named name whose members are the users or groups
// memberIDs (stored with PutUser or PutGroup before or after).
func (s *Server) PutGroup(id, name string, memberIDs ...string) {
	var members []any
	for _, m := range memberIDs {
		xsi, mname := "user", ""
		s.mu.Lock()
		if raw, ok := s.users[m]; ok {
			var v map[string]map[string]any
			_ = json.Unmarshal(raw, &v)
			for k, obj := range v {
				xsi, mname = k, str(obj, "name")
			}
		}
		s.mu.Unlock()
		members = append(members, map[string]any{
			"@xsi.type": xsi, "id": number(m), "name": mname,
			"link": map[string]any{"@href": s.URL + "/users/" + m},
		})
	}
	var coll any = members
	if len(members) == 1 {
		coll = members[0]
	}
	group := map[string]any{"@xsi.type": "group", "id": number(id), "name": name, "email": ""}
	if len(members) > 0 {
		group["members"] = map[string]any{"user": coll}
	}
	s.putParty(id, "group", group)
}

func (s *Server) putParty(id, kind string, obj map[string]any) {
	if _, err := strconv.ParseUint(id, 10, 64); err != nil {
		s.t.Fatalf("securechangetest: user id %q must be digits", id)
	}
	b, err := json.Marshal(map[string]any{kind: obj})
	if err != nil {
		s.t.Fatal(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.users == nil {
		s.users = map[string]json.RawMessage{}
	}
	s.users[id] = b
}

// getUser: GET users/{id}[.json].
func (s *Server) getUser(r *http.Request) (json.RawMessage, *apiError) {
	id := strings.TrimSuffix(r.PathValue("file"), ".json")
	u, ok := s.users[id]
	if !ok {
		return nil, notFound("User with ID %s does not exist", id)
	}
	return u, nil
}

func number(id string) json.Number { return json.Number(id) }
